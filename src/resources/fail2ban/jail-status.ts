/**
 * `fail2ban-client status JAIL` without fail2ban-client's start-up. The client is Python that imports most
 * of fail2ban before it sends one message (0.08-0.3 s on a lab machine, the largest part of a no-op
 * probe); this asks the running server the same question on the same socket, with the same protocol
 * (fail2ban/client/csocket.py: a pickled command list, then `<F2B_END_COMMAND>`; the answer is a pickled
 * `(code, result)`), from `python3 -I -S` (fail2ban's own interpreter, no site imports): 0.02-0.04 s.
 * So the answer is the live server's, as before: a stopped server or a jail it does not run is no answer.
 *
 * Anything this client does not handle (python3 missing, the socket elsewhere because fail2ban.local moved
 * it, an answer it cannot read) exits with another status, and fail2ban-client itself is asked instead.
 * Output: `Status for the jail: JAIL` and one `Section: key: value` line per figure, exit 0; the server's
 * refusal (no such jail) exits 255, as fail2ban-client does.
 */
import { sh, type Sh } from "../../core/sh.js";

/** The server's socket in fail2ban.conf as Debian ships it (fail2ban-client is asked when it is elsewhere). */
export const FAIL2BAN_SOCKET = "/var/run/fail2ban/fail2ban.sock";

// find_class maps every class in the answer (an exception, an address object) to a plain tuple: nothing
// in the answer is imported or run
export const JAIL_STATUS_CLIENT = `import socket, sys
from io import BytesIO
from pickle import Unpickler, dumps
END = b"<F2B_END_COMMAND>"
class Plain(Unpickler):
    def find_class(self, module, name):
        return lambda *a, **k: "%s.%s%r" % (module, name, a)
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(dumps(["status", sys.argv[2]], 2) + END)
    m = b""
    while not m.endswith(END):
        c = s.recv(65536)
        if not c:
            sys.exit(3)
        m += c
    s.sendall(b"<F2B_CLOSE_COMMAND>" + END)
    code, res = Plain(BytesIO(m[: -len(END)])).load()
except OSError:
    sys.exit(3)
if code != 0:
    print("fail2ban server: %s" % (res,))
    sys.exit(255)
print("Status for the jail: %s" % sys.argv[2])
for section, items in res:
    for key, value in items:
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        print("%s: %s: %s" % (section, key, value))
`;

/**
 * sh setting `lc_o` (the answer) and `lc_rc` (0: the jail runs; otherwise fail2ban-client's status or 255)
 * for one jail.
 */
export function jailStatusSh(jail: string): Sh {
  return sh`lc_o=$(python3 -I -S -c ${JAIL_STATUS_CLIENT} ${FAIL2BAN_SOCKET} ${jail} 2>&1); lc_rc=$?
case $lc_rc in 0|255) ;; *) lc_o=$(fail2ban-client status ${jail} 2>&1); lc_rc=$? ;; esac`;
}
