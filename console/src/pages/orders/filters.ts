/** The orders list's filters as the API takes them: one status, China days created (inclusive). */
import { chinaDay } from "../../lib/time";

export type DayRange = [string, string];

/** The query of one page: `from` / `to` only when a range is picked (the API then reads only those days). */
export function orderListQuery<S extends string>(
  filters: { status: S; days: DayRange | null },
  cursor: string | undefined,
  limit = 20,
): { status: S; from?: string; to?: string; limit: number; cursor?: string } {
  return {
    status: filters.status,
    ...(filters.days ? { from: filters.days[0], to: filters.days[1] } : {}),
    limit,
    cursor,
  };
}

/** What was typed in the search box as an order id, or the reason it cannot be one (the API's id shape). */
export function orderIdOf(text: string): { id: string } | { problem: string } {
  const id = text.trim();
  if (!id) return { problem: "请输入订单号" };
  if (!/^[A-Za-z0-9_-]{3,64}$/.test(id)) return { problem: "订单号只含字母、数字、下划线和短横线" };
  return { id };
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The last `days` China days, today included. The date picker formats its dates in the browser's
 * zone, so each China day becomes a local date with the same calendar day: a console opened outside
 * China still asks for China's days.
 */
export function lastChinaDays(days: number, now: Date = new Date()): [Date, Date] {
  const local = (day: string): Date => {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(y, m - 1, d);
  };
  return [local(chinaDay(new Date(now.getTime() - (days - 1) * DAY_MS))), local(chinaDay(now))];
}

export const RANGE_SHORTCUTS = [
  { text: "今天", value: () => lastChinaDays(1) },
  { text: "近 7 天", value: () => lastChinaDays(7) },
  { text: "近 30 天", value: () => lastChinaDays(30) },
];
