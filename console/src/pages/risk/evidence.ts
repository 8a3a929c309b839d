/**
 * Evidence and audit fields as a merchant reads them: Chinese labels for the keys the fraud scan
 * writes, money through formatFen (keys ending in `_fen`), rates through formatBps (`_bp`), times in
 * China time, lists one entry per line. Unknown keys keep their code so nothing is hidden.
 */
import { formatBps, formatFen } from "../../lib/money";
import { formatTime } from "../../lib/time";

const LABELS: Record<string, string> = {
  accounts: "关联账号",
  accounts_count: "关联账号数",
  amount_fen: "金额",
  average_fen: "日均佣金",
  binding_window_hours: "绑定时间窗（小时）",
  bindings: "新绑定数",
  bindings_from: "首个绑定时间",
  bindings_to: "最后绑定时间",
  buyer_id: "买家",
  day: "日期",
  day_fen: "当日佣金",
  fingerprint: "指纹",
  first_bound_at: "首次绑定",
  first_withdrawal_at: "首笔提现时间",
  kind: "类型",
  last_bound_at: "最近绑定",
  level: "层级",
  lookback_days: "回看天数",
  matched: "匹配项",
  min_day_fen: "当日佣金下限",
  min_orders: "最少订单数",
  multiple_bp: "倍数阈值",
  order_id: "订单号",
  orders: "订单",
  orders_count: "订单数",
  preview: "内容预览",
  ratio_bp: "退款率",
  refunded: "退款订单数",
  refunded_orders: "退款订单",
  subject: "对象",
  threshold: "阈值",
  threshold_bp: "退款率阈值",
  thresholds: "阈值",
  trailing_days: "对比天数",
  trailing_fen: "对比期佣金",
  transaction_id: "支付交易号",
  truncated: "已截断",
  window_hours: "时间窗（小时）",
  withdrawal_window_hours: "提现时间窗（小时）",
  withdrawals: "提现单",
  withdrawals_count: "提现笔数",
  withdrawn_fen: "提现金额",
};

const WORDS: Record<string, string> = {
  device: "设备",
  ip: "IP",
  phone: "手机号",
  address: "地址",
  promoter: "推广员",
  customer: "客户",
};

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

export function labelOf(key: string): string {
  return LABELS[key] ?? key;
}

/** One scalar as text, read by its key. */
export function describeScalar(key: string, value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (typeof value === "number") {
    if (key.endsWith("_fen")) return formatFen(value);
    if (key === "multiple_bp") return `${value / 10_000} 倍`;
    if (key.endsWith("_bp") || key.endsWith("_bps")) return formatBps(value);
    return String(value);
  }
  if (typeof value === "string") {
    if (ISO_TIME.test(value)) return formatTime(value);
    return WORDS[value] ?? value;
  }
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An object on one line: "订单号 o1 · 层级 1 · 匹配项 设备、手机号". */
function inline(value: Record<string, unknown>): string {
  return Object.entries(value)
    .map(([k, v]) => `${labelOf(k)} ${Array.isArray(v) ? v.map((x) => describeScalar(k, x)).join("、") : describeScalar(k, v)}`)
    .join(" · ");
}

/** A value as lines of text: a list gives one line per entry (scalars joined when short). */
export function describeValue(key: string, value: unknown): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return ["（无）"];
    if (value.every((v) => !isRecord(v) && !Array.isArray(v))) {
      return [value.map((v) => describeScalar(key, v)).join("、")];
    }
    return value.map((v) => (isRecord(v) ? inline(v) : describeScalar(key, v)));
  }
  if (isRecord(value)) return [inline(value)];
  return [describeScalar(key, value)];
}

export interface EvidenceRow {
  key: string;
  label: string;
  lines: string[];
}

/** The evidence as rows; a nested object (the rule's thresholds) gives a row per field. */
export function evidenceRows(evidence: Record<string, unknown> | null | undefined): EvidenceRow[] {
  const rows: EvidenceRow[] = [];
  for (const [key, value] of Object.entries(evidence ?? {})) {
    if (isRecord(value)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        rows.push({ key: `${key}.${inner}`, label: `${labelOf(key)} · ${labelOf(inner)}`, lines: describeValue(inner, innerValue) });
      }
    } else {
      rows.push({ key, label: labelOf(key), lines: describeValue(key, value) });
    }
  }
  return rows;
}
