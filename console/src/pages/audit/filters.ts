/** The audit log's filters as the API takes them. */
import { describeValue, labelOf } from "../risk/evidence";

const CHINA_OFFSET_MS = 8 * 3600 * 1000;

function chinaMidnightUtc(day: string): number {
  const [y, m, d] = day.split("-").map(Number);
  return Date.UTC(y, m - 1, d) - CHINA_OFFSET_MS;
}

/** China days (inclusive) as the API's UTC instants: from the first day's 00:00 to the last day's end. */
export function chinaDaysToInstants(days: [string, string] | null | undefined): { from?: string; to?: string } {
  if (!days) return {};
  return {
    from: new Date(chinaMidnightUtc(days[0])).toISOString(),
    to: new Date(chinaMidnightUtc(days[1]) + 24 * 3600 * 1000 - 1).toISOString(),
  };
}

export interface ChangeRow {
  field: string;
  before: string;
  after: string;
}

/** An entry's before and after, one row per changed field (dotted paths as the API writes them). */
export function changeRows(before: Record<string, unknown> | null | undefined,
                           after: Record<string, unknown> | null | undefined): ChangeRow[] {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  const show = (source: Record<string, unknown> | null | undefined, key: string): string =>
    source && key in source ? describeValue(key.split(".").pop() ?? key, source[key]).join("\n") : "—";
  return keys.map((key) => ({ field: labelOf(key), before: show(before, key), after: show(after, key) }));
}
