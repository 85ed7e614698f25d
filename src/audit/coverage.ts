// Its own module: derive.ts imports the hardening and packages parts, which declare their coverage.
/**
 * The tasks a part's checks judge more deeply than the tasks' plans: those that write one of `paths`,
 * install one of `packages` or manage one of `services`. `checks`: the part's check ids (an id, or a
 * prefix ending in `.`).
 */
export interface Coverage {
  checks: string[];
  paths?: string[];
  packages?: string[];
  services?: string[];
}
