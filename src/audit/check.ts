/** One audit check's verdict (a module of its own: every audit part makes them, host.ts runs them). */
export interface AuditCheck {
  id: string;
  title: string;
  pass: boolean;
  evidence: string;
  /** Not applicable on this host (e.g. no stack deployed): counts as passed, shown as SKIP. */
  skipped?: boolean;
}
