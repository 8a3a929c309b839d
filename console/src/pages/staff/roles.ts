/** Staff roles as the staff page shows and edits them. */
import { STAFF_ROLE } from "../../lib/labels";

export type StaffRole = keyof typeof STAFF_ROLE;

/** The table's column order, so every list of roles reads the same way. */
export const ROLE_ORDER: StaffRole[] = ["owner", "finance", "operations", "support", "auditor"];

export const ROLE_HINT: Record<StaffRole, string> = {
  owner: "全部权限，含员工管理与资金规则",
  finance: "退款、提现审核与打款标记、风险案件、查看银行卡号、导出",
  operations: "其他设置、商品、发货核销、推广员审核与绑定、查看地址、导出",
  support: "查看数据，查看收货地址",
  auditor: "查看数据与审计日志、导出",
};

/** Roles in the table's order, as Chinese labels joined for a cell or the header. */
export function roleLabels(roles: readonly string[]): string {
  return ROLE_ORDER.filter((r) => roles.includes(r)).map((r) => STAFF_ROLE[r]).join("、") || "—";
}

/** Roles picked in a form, in the table's order (what the API is sent). */
export function orderedRoles(picked: readonly string[]): StaffRole[] {
  return ROLE_ORDER.filter((r) => picked.includes(r));
}
