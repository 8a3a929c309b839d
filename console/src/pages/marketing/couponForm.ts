/**
 * The coupon template form as a merchant fills it (yuan, percent, days) and the API's body (integer
 * fen, basis points). A change sends the whole template with the version read.
 */
import type { components } from "../../api/schema";
import { formatFen, parseYuan } from "../../lib/money";
import { bpsToPercent, parsePercent } from "../catalog/productForm";

type Template = components["schemas"]["CouponTemplateView"];
type TemplateIn = components["schemas"]["CouponTemplateIn"];
type Read<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

export interface CouponForm {
  name: string;
  kind: "amount" | "percent";
  amountOff: string;
  percentOff: string;
  maxOff: string;
  minSpend: string;
  scope: "all" | "categories" | "products";
  scopeIds: string;
  validDays: number;
  totalQuantity: number;
  perUserLimit: number;
  enabled: boolean;
  autoIssue: "none" | "first_login" | "becomes_promoter";
  promoterBound: boolean;
  onRefund: "return_if_full_refund" | "never";
}

const yuanOf = (fen: number | null | undefined): string => (fen ? formatFen(fen).replace(/[¥,]/g, "") : "");

export function couponForm(t?: Template): CouponForm {
  return {
    name: t?.name ?? "",
    kind: (t?.kind as CouponForm["kind"]) ?? "amount",
    amountOff: yuanOf(t?.amount_off_fen),
    percentOff: t && t.percent_off_bp ? bpsToPercent(t.percent_off_bp) : "",
    maxOff: yuanOf(t?.max_off_fen),
    minSpend: yuanOf(t?.min_spend_fen),
    scope: (t?.scope as CouponForm["scope"]) ?? "all",
    scopeIds: (t?.scope_ids ?? []).join(","),
    validDays: t?.valid_days ?? 7,
    totalQuantity: t?.total_quantity ?? 100,
    perUserLimit: t?.per_user_limit ?? 1,
    enabled: t?.enabled ?? true,
    autoIssue: (t?.auto_issue as CouponForm["autoIssue"]) ?? "none",
    promoterBound: t?.promoter_bound ?? false,
    onRefund: (t?.on_refund as CouponForm["onRefund"]) ?? "return_if_full_refund",
  };
}

/** The body of a creation (or, with ``version``, of a change); field errors named as the API names them. */
export function couponBody(form: CouponForm): Read<TemplateIn> {
  const errors: Record<string, string> = {};
  if (!form.name.trim()) errors.name = "请填写名称";
  const minSpend = form.minSpend.trim() ? parseYuan(form.minSpend) : 0;
  if (minSpend === null || minSpend < 0) errors.min_spend_fen = "请填写金额，如 99 或 99.50";
  let amountOff = 0;
  let percentOff = 0;
  let maxOff: number | null = null;
  if (form.kind === "amount") {
    const fen = parseYuan(form.amountOff);
    if (fen === null || fen < 1) errors.amount_off_fen = "请填写减免金额";
    else amountOff = fen;
  } else {
    const bp = parsePercent(form.percentOff);
    if (bp === null || bp < 1 || bp > 9900) errors.percent_off_bp = "请填写 0.01–99 之间的折扣百分比";
    else percentOff = bp;
    const ceiling = parseYuan(form.maxOff);
    if (ceiling === null || ceiling < 1) errors.max_off_fen = "按比例优惠须设置最高减免金额";
    else maxOff = ceiling;
  }
  const scopeIds = form.scope === "all" ? [] : form.scopeIds.split(/[,，\s]+/).filter(Boolean);
  if (form.scope !== "all" && scopeIds.length === 0) errors.scope_ids = "请填写适用的分类或商品编号";
  if (Object.keys(errors).length) return { ok: false, errors };
  return {
    ok: true,
    value: {
      name: form.name.trim(), kind: form.kind, amount_off_fen: amountOff, percent_off_bp: percentOff,
      max_off_fen: maxOff, min_spend_fen: minSpend ?? 0, scope: form.scope, scope_ids: scopeIds,
      valid_days: form.validDays, total_quantity: form.totalQuantity, per_user_limit: form.perUserLimit,
      enabled: form.enabled, auto_issue: form.autoIssue, promoter_bound: form.promoterBound,
      on_refund: form.onRefund,
    },
  };
}

/** What a template takes off, in words: "满¥99.00减¥10.00", "9折（最高减¥20.00）". */
export function describeCoupon(t: Pick<Template, "kind" | "amount_off_fen" | "percent_off_bp" | "max_off_fen"
  | "min_spend_fen">): string {
  const floor = t.min_spend_fen ? `满${formatFen(t.min_spend_fen)}` : "无门槛";
  if (t.kind === "amount") return `${floor}减${formatFen(t.amount_off_fen)}`;
  return `${floor}减${bpsToPercent(t.percent_off_bp)}%（最高减${formatFen(t.max_off_fen ?? 0)}）`;
}
