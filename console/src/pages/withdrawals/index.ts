import { Wallet } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "withdrawals", path: "/withdrawals", title: "提现审核", group: "资金", icon: Wallet,
    operation: "GET /admin/withdrawals", menu: true, order: 50, component: () => import("./WithdrawalsView.vue"),
  },
];
