/**
 * What the console offers for a promoter in each status, mirroring the API's transitions (the API
 * still decides: a 409 names the current status when the page was stale).
 */
import type { components } from "../../api/schema";

export type PromoterStatus = components["schemas"]["PromoterAdminView"]["status"];
export type StatusAction = "approve" | "reject" | "freeze" | "unfreeze" | "disable";

const ALLOWED_FROM: Record<StatusAction, readonly PromoterStatus[]> = {
  approve: ["applied"],
  reject: ["applied"],
  freeze: ["active"],
  unfreeze: ["frozen"],
  disable: ["applied", "active", "frozen"],
};

/** The API refuses these without a reason (reason_required). */
const NEEDS_REASON: ReadonlySet<StatusAction> = new Set(["reject", "freeze", "disable"]);

export function actionsFor(status: PromoterStatus): StatusAction[] {
  return (Object.keys(ALLOWED_FROM) as StatusAction[]).filter((action) => ALLOWED_FROM[action].includes(status));
}

export function needsReason(action: StatusAction): boolean {
  return NEEDS_REASON.has(action);
}

/**
 * A rate typed as a percentage ("12.5", "12.5%") as basis points; "" means no rate (null).
 * Undefined when it is not a percentage with at most two decimals.
 */
export function parsePercent(text: string): number | null | undefined {
  const cleaned = text.replace(/[%\s]/g, "");
  if (cleaned === "") return null;
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!match) return undefined;
  const [, whole, decimals = ""] = match;
  return Number(whole) * 100 + Number(decimals.padEnd(2, "0"));
}

/** Basis points as the percentage text the override form shows ("" for none). */
export function percentText(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return "";
  return (bps / 100).toFixed(2).replace(/\.?0+$/, "");
}

export interface CapRefusal {
  /** A short mark for each override input the refusal involves. */
  inputs: Record<string, string>;
  /** Each combination that would pay too much, once: too long to sit under an input. */
  lines: string[];
}

/** The cap refusal's fields (each names a whole combination of rates) split for the form. */
export function capRefusal(fields: Record<string, string>): CapRefusal {
  const inputs: Record<string, string> = {};
  const lines: string[] = [];
  for (const [field, reason] of Object.entries(fields)) {
    for (const input of ["l1_override_bp", "l2_override_bp"]) {
      if (field === input || field.endsWith(`.${input}`)) inputs[input] = "超出佣金上限";
    }
    if (!lines.includes(reason)) lines.push(reason);
  }
  return { inputs, lines };
}
