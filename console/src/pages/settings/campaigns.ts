/** The campaign form ↔ the API: times are typed and shown in China time (the API reads a time
 * without an offset as China time and answers in UTC). */
import type { components } from "../../api/schema";

export type CampaignView = components["schemas"]["CampaignView"];
export type CampaignRequest = components["schemas"]["CampaignRequest"];

export interface CampaignForm {
  name: string;
  /** "YYYY-MM-DDTHH:mm:ss", China time */
  startsAt: string;
  endsAt: string;
  weekdays: number[];
  productIds: string;
  categoryIds: string;
  promoterIds: string;
  levelIds: string[];
  newPromoterDays: number | null;
  kind: "points" | "multiplier";
  l1PointsBp: number;
  l2PointsBp: number;
  multiplierPercent: number;
}

const CHINA_OFFSET_MS = 8 * 3600 * 1000;

/** A UTC ISO instant as China wall time "YYYY-MM-DDTHH:mm:ss". */
export function chinaLocal(iso: string): string {
  const date = new Date(new Date(iso).getTime() + CHINA_OFFSET_MS);
  return date.toISOString().slice(0, 19);
}

function ids(text: string): string[] {
  return [...new Set(text.split(/[\s,，]+/).map((s) => s.trim()).filter(Boolean))];
}

export function emptyForm(): CampaignForm {
  return {
    name: "", startsAt: "", endsAt: "", weekdays: [], productIds: "", categoryIds: "", promoterIds: "", levelIds: [],
    newPromoterDays: null, kind: "points", l1PointsBp: 0, l2PointsBp: 0, multiplierPercent: 200,
  };
}

export function formOf(view: CampaignView): CampaignForm {
  return {
    name: view.name, startsAt: chinaLocal(view.starts_at), endsAt: chinaLocal(view.ends_at), weekdays: [...view.weekdays],
    productIds: view.scope.product_ids.join(", "), categoryIds: view.scope.category_ids.join(", "),
    promoterIds: view.scope.promoter_ids.join(", "), levelIds: [...view.scope.level_ids],
    newPromoterDays: view.scope.new_promoter_days ?? null, kind: view.boost.kind,
    l1PointsBp: view.boost.l1_points_bp, l2PointsBp: view.boost.l2_points_bp,
    multiplierPercent: view.boost.multiplier_percent,
  };
}

export function requestOf(form: CampaignForm): CampaignRequest {
  const points = form.kind === "points";
  return {
    name: form.name.trim(), starts_at: form.startsAt, ends_at: form.endsAt, weekdays: [...form.weekdays].sort(),
    scope: {
      product_ids: ids(form.productIds), category_ids: ids(form.categoryIds), promoter_ids: ids(form.promoterIds),
      level_ids: [...form.levelIds], new_promoter_days: form.newPromoterDays || null,
    },
    boost: {
      kind: form.kind, l1_points_bp: points ? form.l1PointsBp : 0, l2_points_bp: points ? form.l2PointsBp : 0,
      multiplier_percent: points ? 100 : form.multiplierPercent,
    },
  };
}

export const CAMPAIGN_STATUS: Record<CampaignView["status"], string> = {
  upcoming: "未开始",
  active: "进行中",
  ended: "已结束",
};

export const WEEKDAYS: [number, string][] = [[1, "周一"], [2, "周二"], [3, "周三"], [4, "周四"], [5, "周五"], [6, "周六"], [7, "周日"]];

/** Who and what a campaign covers, in words. */
export function scopeText(view: CampaignView): string {
  const s = view.scope;
  const parts = [
    s.product_ids.length ? `${s.product_ids.length} 件商品` : "",
    s.category_ids.length ? `${s.category_ids.length} 个分类` : "",
    s.level_ids.length ? `等级 ${s.level_ids.join("、")}` : "",
    s.promoter_ids.length ? `${s.promoter_ids.length} 位推广员` : "",
    s.new_promoter_days ? `成为推广员 ${s.new_promoter_days} 天内` : "",
  ].filter(Boolean);
  return parts.join("，") || "全部";
}
