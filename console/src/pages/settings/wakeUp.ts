/** The wake-up rule (沉睡唤醒) form ↔ the API, and a wake-up campaign's funnel (how many woke) in rows. */
import type { components } from "../../api/schema";

export type WakeUpRuleView = components["schemas"]["WakeUpRuleView"];
export type WakeUpRuleRequest = components["schemas"]["WakeUpRuleRequest"];
export type WokeCount = components["schemas"]["WokeCount"];

export interface WakeUpForm {
  enabled: boolean;
  inactiveDays: number;
  boostDays: number;
  kind: "points" | "multiplier";
  l1PointsBp: number;
  l2PointsBp: number;
  multiplierPercent: number;
}

export function wakeUpFormOf(view: WakeUpRuleView): WakeUpForm {
  return {
    enabled: view.enabled, inactiveDays: view.inactive_days, boostDays: view.boost_days, kind: view.boost.kind,
    l1PointsBp: view.boost.l1_points_bp, l2PointsBp: view.boost.l2_points_bp,
    multiplierPercent: view.boost.kind === "multiplier" ? view.boost.multiplier_percent : 200,
  };
}

/** Only the chosen kind's numbers are sent: points leave the multiplier at 100, a multiplier sends no points. */
export function wakeUpRequestOf(form: WakeUpForm): WakeUpRuleRequest {
  const points = form.kind === "points";
  return {
    enabled: form.enabled, inactive_days: form.inactiveDays, boost_days: form.boostDays,
    boost: {
      kind: form.kind, l1_points_bp: points ? form.l1PointsBp : 0, l2_points_bp: points ? form.l2PointsBp : 0,
      multiplier_percent: points ? 100 : form.multiplierPercent,
    },
  };
}

export interface FunnelRow {
  key: "targeted" | "woke" | "with_share_visit" | "with_paid_order";
  label: string;
  count: number;
  /** share of the promoters the campaign took in, "37.5%"; "—" when it took in nobody */
  share: string;
}

function share(part: number, whole: number): string {
  if (whole <= 0) return "—";
  const tenths = Math.round((part * 1000) / whole);
  return `${Math.floor(tenths / 10)}.${tenths % 10}%`;
}

/** The funnel after the boost: chosen → woke (a share visit or a paid order) → each of the two. */
export function funnelRows(count: WokeCount): FunnelRow[] {
  const rows: [FunnelRow["key"], string, number][] = [
    ["targeted", "唤醒对象", count.targeted],
    ["woke", "已唤醒（分享访问或成交）", count.woke],
    ["with_share_visit", "有分享访问", count.with_share_visit],
    ["with_paid_order", "有成交订单", count.with_paid_order],
  ];
  return rows.map(([key, label, n]) => ({ key, label, count: n, share: share(n, count.targeted) }));
}
