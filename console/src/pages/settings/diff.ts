/** What changed between two saved versions of the settings: one row per changed leaf path. */
import { formatBps, formatFen } from "../../lib/money";

export interface Change {
  /** Dotted path into the document, array items by index: `levels.1.l1_points_bp`. */
  path: string;
  /** undefined: the field is not in that version. */
  before: unknown;
  after: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function join(prefix: string, key: string | number): string {
  return prefix ? `${prefix}.${key}` : String(key);
}

/** The changed paths from `before` to `after`, objects by key (sorted), arrays by index. A value whose
 * kind changed (or an item only one side has) is one row with the whole value. */
export function diffDocuments(before: unknown, after: unknown, prefix = ""): Change[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffDocuments(before[key], after[key], join(prefix, key)));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    const changes: Change[] = [];
    for (let i = 0; i < length; i += 1) changes.push(...diffDocuments(before[i], after[i], join(prefix, i)));
    return changes;
  }
  if (before === after) return [];
  return [{ path: prefix, before, after }];
}

/** A value of the diff as the merchant reads it: fen as ¥, basis points as %, the rest as JSON. */
export function formatValue(path: string, value: unknown): string {
  if (value === undefined) return "—";
  if (value === null) return "（空）";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (typeof value === "number") {
    if (/_fen$/.test(path)) return formatFen(value);
    if (/_bp$/.test(path)) return formatBps(value);
    return String(value);
  }
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
