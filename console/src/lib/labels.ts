/** Chinese labels of the API's codes. */
import type { components } from "../api/schema";

export const WITHDRAWAL_STATUS: Record<components["schemas"]["WithdrawalStatus"], string> = {
  PENDING_REVIEW: "待审核",
  APPROVED: "已通过",
  PAYING: "打款中",
  PAID: "已到账",
  FAILED: "失败",
  REJECTED: "已驳回",
};

export const WITHDRAWAL_METHOD: Record<"wechat" | "bank", string> = { wechat: "微信零钱", bank: "银行卡" };

export const EXPORT_KIND: Record<components["schemas"]["CreateExportRequest"]["kind"], string> = {
  orders: "订单",
  commissions: "佣金",
  withdrawals: "提现",
  promoters: "推广员",
  ledger: "资金流水",
};

export const EXPORT_STATUS: Record<components["schemas"]["ExportJobView"]["status"], string> = {
  QUEUED: "排队中",
  RUNNING: "生成中",
  DONE: "已完成",
  FAILED: "失败",
};

export const BONUS_STATUS: Record<components["schemas"]["AdminBonusView"]["status"], string> = {
  FROZEN: "待结算",
  SETTLED: "已结算",
  CANCELLED: "已作废",
};

export const MISMATCH_KIND: Record<components["schemas"]["ReconciliationMismatch"]["kind"], string> = {
  wallet: "余额与流水不符",
  overdrawn: "账户透支",
  posting: "分录借贷不平",
  merchant: "商户账户不符",
  conservation: "总额不守恒",
};

export const RISK_CASE_STATUS: Record<components["schemas"]["RiskCaseStatus"], string> = {
  OPEN: "待处理",
  RELEASED: "已解除",
  CONFIRMED: "已确认",
};

/** The fraud scan's rules (and the payment check); an unknown rule shows its code. */
export const RISK_RULE: Record<string, string> = {
  shared_device: "同设备/同 IP 多账号",
  self_dealing: "自买自返",
  refund_ratio: "退款率过高",
  commission_spike: "佣金异常激增",
  withdrawal_burst: "新绑定后集中提现",
  payer_mismatch: "付款人与下单人不符",
};

export const AUDIT_ACTION: Record<string, string> = {
  "admin.login": "管理员登录",
  "admin.login_failed": "管理员登录失败",
  "binding.admin_remove": "解除绑定",
  "binding.admin_set": "设置绑定",
  "category.create": "新建分类",
  "category.delete": "删除分类",
  "category.update": "修改分类",
  "commission.void": "佣金作废",
  "customer.erase": "删除客户数据",
  "export.create": "创建导出",
  "order.ship": "订单发货",
  "order.ship.correct": "更正发货",
  "order.verify": "订单核销",
  "product.create": "新建商品",
  "product.stock_adjust": "库存调整",
  "product.update": "修改商品",
  "promoter.set_level": "设置推广员等级",
  "promoter.set_override": "设置专属佣金",
  "promoter.status": "推广员状态变更",
  "refund.approve": "退款通过",
  "refund.approve_resend": "退款重新提交",
  "refund.reject": "退款驳回",
  "risk_case.open": "风控案件开启",
  "risk_case.release": "风控案件解除",
  "risk_case.confirm": "风控案件确认",
  "settings.save": "保存分销设置",
  "withdrawal.approve": "提现审批",
  "adjustment.create": "佣金调整申请",
  "adjustment.approve": "佣金调整复核",
  "adjustment.reject": "佣金调整驳回",
  "withdrawal.reject": "提现驳回",
  "withdrawal.mark_paid": "标记已打款",
  "withdrawal.mark_failed": "标记打款失败",
  "withdrawal.export": "导出提现",
  "withdrawal.bank_account_reveal": "查看银行账号",
};

export const AUDIT_ENTITY_TYPE: Record<string, string> = {
  settings: "分销设置",
  promoter: "推广员",
  binding: "绑定关系",
  category: "分类",
  product: "商品",
  order: "订单",
  refund: "退款",
  withdrawal: "提现",
  withdrawal_export: "提现导出",
  export: "导出",
  customer: "客户",
  bonus: "团队奖励",
  risk_case: "风控案件",
  admin: "管理员",
  adjustment: "佣金调整",
};

export const LEADERBOARD_BOARD: Record<"commission" | "sales", string> = { commission: "佣金榜", sales: "销售榜" };
export const LEADERBOARD_PERIOD: Record<"week" | "month", string> = { week: "本周", month: "本月" };

export const NOTIFICATION_STATUS: Record<components["schemas"]["NotificationStatus"], string> = {
  FAILED: "发送失败（重试中）",
  NOT_SUBSCRIBED: "用户未订阅",
  NO_RECIPIENT: "无接收人",
  SENDING: "发送中",
  SENT: "已发送",
  SKIPPED: "已跳过（未授权）",
};

export const NOTIFICATION_KIND: Record<components["schemas"]["NotificationKind"], string> = {
  commission_earned: "佣金到账",
  commission_settled: "佣金结算",
  withdrawal_status: "提现状态",
  team_member_joined: "新成员加入",
  order_shipped: "订单发货",
  order_delivered: "包裹签收",
  refund_result: "退款结果",
  wake_up_boost: "唤醒加成",
};

export const PRODUCT_TYPE: Record<components["schemas"]["AdminProductView"]["type"], string> = {
  physical: "实物",
  service: "服务（核销）",
  virtual: "虚拟",
};

export const COMMISSION_MODE: Record<components["schemas"]["CommissionSettingView"]["mode"], string> = {
  inherit: "继承分类/全局",
  ratio: "按比例",
  fixed: "固定金额",
};

export const ORDER_STATUS: Record<string, string> = {
  CREATED: "待付款",
  PAID: "待发货",
  EXPIRED: "已超时",
  PAID_AFTER_EXPIRY: "超时后付款",
  SHIPPED: "已发货",
  COMPLETED: "已完成",
  CLOSED: "已关闭",
};

export const FULFILMENT: Record<string, string> = { physical: "快递发货", service: "到店核销", virtual: "虚拟发放" };

export const REFUND_STATUS: Record<components["schemas"]["RefundStatus"], string> = {
  REQUESTED: "待审核",
  REJECTED: "已驳回",
  PROCESSING: "退款中",
  SUCCEEDED: "已退款",
  FAILED: "失败",
  CLOSED: "已关闭",
};

export const REFUND_KIND: Record<string, string> = {
  customer: "买家申请",
  paid_after_expiry: "超时付款退回",
  admin: "商家发起",
  shipping: "运费退回",
};

export const PROMOTER_STATUS: Record<components["schemas"]["PromoterAdminView"]["status"], string> = {
  applied: "待审核",
  active: "正常",
  frozen: "已冻结",
  disabled: "已禁用",
  rejected: "已驳回",
};

export const PROMOTER_ACTION: Record<string, string> = {
  apply: "申请",
  approve: "审核通过",
  reject: "驳回申请",
  freeze: "冻结",
  unfreeze: "解冻",
  disable: "禁用",
  set_level: "调整等级",
  upgrade: "自动升级",
  downgrade: "自动降级",
  set_override: "专属佣金比例",
};

export const COMMISSION_STATUS: Record<components["schemas"]["AdminCommissionView"]["status"], string> = {
  FROZEN: "待结算",
  SETTLED: "已结算",
  CANCELLED: "已取消",
};

export const LEDGER_KIND: Record<string, string> = {
  commission_frozen: "佣金入账（待结算）",
  commission_settled: "佣金结算",
  commission_cancelled: "佣金取消",
  commission_clawed_back: "佣金追回",
  commission_voided: "佣金作废",
  debt_repaid: "偿还欠款",
  withdrawal_held: "提现冻结",
  withdrawal_paid: "提现到账",
  withdrawal_returned: "提现退回",
  bonus_frozen: "团队奖励（待结算）",
  bonus_settled: "团队奖励结算",
  commission_adjusted: "人工调整",
};

export const BINDING_OUTCOME: Record<components["schemas"]["BindResult"]["outcome"], string> = {
  bound: "已绑定",
  rebound: "已改绑",
  unchanged: "绑定未变",
  unbound: "已解绑",
};

export const BINDING_MODE: Record<components["schemas"]["BindingMode"], string> = {
  first_click: "首次点击绑定",
  first_payment: "首次付款绑定",
  invite_code: "邀请码绑定",
};

export const SELF_PURCHASE: Record<"rebate" | "none" | "discount", string> = {
  rebate: "自购返佣（本人得一级佣金）",
  none: "自购不返（上级得一级佣金）",
  discount: "自购立减（一级佣金直接抵扣）",
};

export const RISK_MODE: Record<"off" | "observe" | "enforce", string> = { off: "关闭", observe: "仅记录", enforce: "拦截" };

export const PROMOTER_THRESHOLD: Record<"none" | "spent_at_least" | "bought_product", string> = {
  none: "无门槛",
  spent_at_least: "累计消费满额",
  bought_product: "购买指定商品",
};

export const MINIPROGRAM_STATE: Record<"formal" | "trial" | "developer", string> = {
  formal: "正式版",
  trial: "体验版",
  developer: "开发版",
};

export const DELIVERY_METHOD: Record<"code" | "link" | "account" | "manual", string> = {
  code: "卡密",
  link: "链接",
  account: "直充到账号",
  manual: "人工发放",
};

export const CONTENT_BLOCK: Record<"heading" | "text" | "image", string> = { heading: "小标题", text: "段落", image: "图片" };

export const RETURN_SHIPPING_PAYER: Record<"buyer" | "merchant", string> = { buyer: "买家承担", merchant: "商家承担" };

export const ADJUSTMENT_STATUS: Record<components["schemas"]["AdjustmentView"]["status"], string> = {
  PENDING: "待复核",
  APPLIED: "已入账",
  REJECTED: "已驳回",
};

export const ADJUSTMENT_DIRECTION: Record<components["schemas"]["AdjustmentView"]["direction"], string> = {
  credit: "补发",
  debit: "扣回",
};

export const PROMOTER_SORT: Record<string, string> = {
  newest: "最新申请",
  month_commission_desc: "本月佣金",
  sales_desc: "个人业绩",
  team_sales_desc: "团队业绩",
  team_desc: "团队人数",
  last_active_desc: "最近活跃",
};
export const UPLOAD_STATUS: Record<"FAILED" | "PENDING" | "SENDING" | "UPLOADED", string> = {
  FAILED: "失败",
  PENDING: "待上传",
  SENDING: "上传中",
  UPLOADED: "已上传",
};

export const LOGISTICS_TYPE: Record<number, string> = { 1: "快递", 2: "同城配送", 3: "虚拟发货", 4: "用户自提" };

export const PARCEL_STATE: Record<string, string> = {
  pending: "待揽收",
  collected: "已揽收",
  in_transit: "运输中",
  out_for_delivery: "派送中",
  delivered: "已签收",
  problem: "疑难件",
  returned_signed: "退签",
  returning: "退回中",
  redirected: "转投",
  customs: "清关中",
  refused: "拒签",
  unknown: "未知",
};

export const COUNTDOWN_FROM: Record<"shipment" | "delivery", string> = { shipment: "发货", delivery: "签收" };
export const STAFF_ROLE: Record<"owner" | "finance" | "operations" | "support" | "auditor", string> = {
  owner: "店主",
  finance: "财务",
  operations: "运营",
  support: "客服",
  auditor: "审计",
};
export const PRIZE_MEASURE: Record<"sales" | "commission", string> = { sales: "销售榜", commission: "佣金榜" };
export const PRIZE_STATUS: Record<"PAID" | "HELD" | "PENDING" | "NO_PRIZE" | "VOIDED", string> = {
  PAID: "已发放",
  HELD: "风控暂缓",
  PENDING: "待发放",
  NO_PRIZE: "无奖金",
  VOIDED: "已作废",
};
