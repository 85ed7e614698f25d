/** The environment variable of --ssh-keepalive, apart from ssh.ts so declaring the option loads no ssh2. */
export const KEEPALIVE_ENV = "LOCKCLAW_SSH_KEEPALIVE";
