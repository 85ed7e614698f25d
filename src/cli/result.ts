/** What a command hands back to main: the exit code (a module of its own, so commands need not import main). */
export interface CommandResult {
  exitCode: number;
}
