/**
 * The console's pages and the operation each one needs: an entry shows only when the signed-in
 * admin's roles may call that operation (the contract's x-mall-roles), so staff roles add or hide
 * entries without touching this list.
 */
import type { OperationKey } from "./api/roles";

export interface NavEntry {
  name: string;
  path: string;
  title: string;
  icon: string;
  operation: OperationKey;
}

export const NAV: NavEntry[] = [
  { name: "dashboard", path: "/dashboard", title: "数据看板", icon: "DataAnalysis", operation: "GET /admin/dashboard" },
  { name: "withdrawals", path: "/withdrawals", title: "提现审核", icon: "Wallet", operation: "GET /admin/withdrawals" },
];
