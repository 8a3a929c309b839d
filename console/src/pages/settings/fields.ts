/** How the plain fields of the settings document are edited: label, kind, bounds (as the contract's). */
export type FieldKind = "int" | "fen" | "bp" | "bool";

export interface FieldSpec {
  key: string;
  label: string;
  kind: FieldKind;
  min?: number;
  max?: number;
  nullable?: boolean;
  help?: string;
  unit?: string;
}

const FEN_MAX = 10_000_000_000;

export const WITHDRAWAL_FIELDS: FieldSpec[] = [
  { key: "min_fen", label: "单笔最低", kind: "fen", min: 100, max: FEN_MAX },
  { key: "max_fen", label: "单笔最高", kind: "fen", min: 100, max: FEN_MAX, help: "微信零钱单笔须低于 ¥2,000（无需实名）" },
  { key: "daily_count", label: "每日次数", kind: "int", min: 1, max: 1000, unit: "次" },
  { key: "daily_amount_fen", label: "每日总额", kind: "fen", min: 100, max: FEN_MAX },
  { key: "fee_free_below_fen", label: "免手续费额度", kind: "fen", min: 0, max: FEN_MAX, help: "低于此金额不收手续费" },
  { key: "fee_rate_bp", label: "手续费率", kind: "bp", min: 0, max: 2000 },
  { key: "fee_min_fen", label: "最低手续费", kind: "fen", min: 0, max: FEN_MAX },
  { key: "auto_review_below_fen", label: "自动审核额度", kind: "fen", min: 0, max: FEN_MAX, help: "低于此金额且无风险标记自动通过；0：全部人工审核" },
  { key: "dual_approval_from_fen", label: "双人审批起点", kind: "fen", min: 0, max: FEN_MAX, help: "达到此金额需两位不同管理员审批" },
  { key: "stuck_bill_minutes", label: "转账单查询等待", kind: "int", min: 5, max: 10080, unit: "分钟" },
];

export const RISK_RULES: { key: string; title: string; fields: FieldSpec[] }[] = [
  {
    key: "shared_device", title: "同设备/同IP批量绑定", fields: [
      { key: "window_hours", label: "时间窗口", kind: "int", min: 1, max: 720, unit: "小时" },
      { key: "device_accounts", label: "同设备账号数", kind: "int", min: 2, max: 10000 },
      { key: "ip_accounts", label: "同IP账号数", kind: "int", min: 2, max: 100000 },
    ],
  },
  {
    key: "self_dealing", title: "自买自卖", fields: [
      { key: "match_device", label: "比对设备", kind: "bool" },
      { key: "match_phone", label: "比对手机号", kind: "bool" },
      { key: "match_address", label: "比对收货地址", kind: "bool" },
      { key: "min_orders", label: "单日订单数", kind: "int", min: 1, max: 1000 },
    ],
  },
  {
    key: "refund_ratio", title: "高退款率", fields: [
      { key: "lookback_days", label: "统计天数", kind: "int", min: 1, max: 90, unit: "天" },
      { key: "min_orders", label: "最少订单数", kind: "int", min: 1, max: 100000 },
      { key: "ratio_bp", label: "退款率阈值", kind: "bp", min: 1, max: 10000 },
    ],
  },
  {
    key: "commission_spike", title: "佣金突增", fields: [
      { key: "trailing_days", label: "对比前几天均值", kind: "int", min: 1, max: 60, unit: "天" },
      { key: "multiple_bp", label: "倍数（%）", kind: "bp", min: 10001, max: 10_000_000, help: "50000 基点 = 500% = 5 倍" },
      { key: "min_day_fen", label: "单日最低佣金", kind: "fen", min: 0, max: FEN_MAX },
    ],
  },
  {
    key: "withdrawal_burst", title: "拉新后集中提现", fields: [
      { key: "binding_window_hours", label: "拉新窗口", kind: "int", min: 1, max: 720, unit: "小时" },
      { key: "bindings", label: "新绑定人数", kind: "int", min: 2, max: 100000 },
      { key: "withdrawal_window_hours", label: "提现窗口", kind: "int", min: 1, max: 720, unit: "小时" },
      { key: "withdrawals", label: "提现次数", kind: "int", min: 1, max: 1000 },
    ],
  },
];

export type NotificationEvent =
  | "commission_earned" | "commission_settled" | "team_member_joined" | "withdrawal_status"
  | "order_shipped" | "order_delivered" | "refund_result" | "wake_up_boost";

/** Every subscribe-message event; `buyer` ones go to the order's buyer, the others to a promoter. */
export const NOTIFICATION_EVENTS: { key: NotificationEvent; title: string; buyer?: boolean }[] = [
  { key: "commission_earned", title: "获得佣金" },
  { key: "commission_settled", title: "佣金结算" },
  { key: "team_member_joined", title: "新成员加入团队" },
  { key: "withdrawal_status", title: "提现状态变化" },
  { key: "wake_up_boost", title: "获得唤醒加成" },
  { key: "order_shipped", title: "订单发货（买家）", buyer: true },
  { key: "order_delivered", title: "包裹签收（买家）", buyer: true },
  { key: "refund_result", title: "退款结果（买家）", buyer: true },
];

/** Which tab holds a document path, so a tab with a refused field can say so. */
export function tabOf(path: string): string {
  const head = path.split(".")[0];
  const tabs: Record<string, string> = {
    binding_mode: "promoter", binding_validity: "promoter", only_new_customers: "promoter",
    promoter_threshold: "promoter", promoter_review: "promoter", promoter_title: "promoter",
    commission: "commission", levels: "commission", level_downgrade_inactive_days: "commission",
    orders: "orders", withdrawal: "withdrawal", team_bonus: "team_bonus", notifications: "notifications",
    risk: "risk", banned_phrases: "banned_phrases",
  };
  return tabs[head] ?? "commission";
}

/** Chinese names of the document's paths, for the diff of two versions (the closest known prefix wins). */
const PATH_LABELS: Record<string, string> = {
  binding_mode: "绑定方式", binding_validity: "绑定有效期", "binding_validity.kind": "绑定有效期",
  "binding_validity.protection_days": "客户保护期（天）", only_new_customers: "仅新客户可绑定",
  promoter_threshold: "推广员门槛", "promoter_threshold.kind": "推广员门槛",
  "promoter_threshold.spent_at_least_fen": "门槛：累计消费", "promoter_threshold.product_ids": "门槛：指定商品",
  "promoter_threshold.requires_phone": "门槛：须绑定手机号",
  promoter_review: "推广员审核", promoter_title: "推广员称号",
  levels: "等级", level_downgrade_inactive_days: "不活跃降级天数",
  commission: "佣金", "commission.l1_rate_bp": "一级佣金比例", "commission.l2_rate_bp": "二级佣金比例",
  "commission.cap_bp": "佣金上限", "commission.self_purchase": "自购规则", "commission.settlement_days": "结算天数",
  orders: "订单", "orders.unpaid_expiry_minutes": "未支付关闭（分钟）", "orders.auto_confirm_days": "自动确认收货（天）",
  withdrawal: "提现", "withdrawal.methods": "提现方式",
  risk: "风控", team_bonus: "团队分红", "team_bonus.enabled": "团队分红开关", "team_bonus.tiers": "分红档位",
  "team_bonus.final_after_days": "月度定稿天数", "team_bonus.settlement_days": "分红结算天数",
  notifications: "订阅消息", "notifications.withdrawal_statuses": "提现通知的状态", banned_phrases: "违禁词",
};
for (const spec of WITHDRAWAL_FIELDS) PATH_LABELS[`withdrawal.${spec.key}`] = `提现：${spec.label}`;
for (const rule of RISK_RULES) {
  PATH_LABELS[`risk.${rule.key}`] = `风控：${rule.title}`;
  for (const spec of rule.fields) PATH_LABELS[`risk.${rule.key}.${spec.key}`] = `风控：${rule.title} · ${spec.label}`;
}
for (const event of NOTIFICATION_EVENTS) PATH_LABELS[`notifications.${event.key}`] = `订阅消息：${event.title}`;

const LEVEL_FIELDS: Record<string, string> = {
  id: "编号", name: "名称", l1_points_bp: "一级加点", l2_points_bp: "二级加点",
  "upgrade.direct_members_at_least": "升级：直推人数", "upgrade.own_sales_at_least_fen": "升级：个人销售额",
  "upgrade.team_sales_at_least_fen": "升级：团队销售额",
};

export function pathLabel(path: string): string {
  const level = /^levels\.(\d+)(?:\.(.+))?$/.exec(path);
  if (level) {
    const rest = level[2];
    return `等级 ${Number(level[1]) + 1}${rest ? ` · ${LEVEL_FIELDS[rest] ?? rest}` : ""}`;
  }
  const parts = path.split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const found = PATH_LABELS[parts.slice(0, n).join(".")];
    if (found) return n === parts.length ? found : `${found} · ${parts.slice(n).join(".")}`;
  }
  return path;
}
