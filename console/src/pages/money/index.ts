import { Coin, Download, Present, Trophy } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "reconciliations", path: "/reconciliations", title: "对账", group: "资金", icon: Coin,
    operation: "GET /admin/ledger/reconciliations", menu: true, order: 51,
    component: () => import("./ReconciliationsView.vue"),
  },
  {
    name: "bonuses", path: "/bonuses", title: "团队分红", group: "资金", icon: Present,
    operation: "GET /admin/bonuses", menu: true, order: 52, component: () => import("./BonusesView.vue"),
  },
  {
    name: "prizes", path: "/prizes", title: "排行榜奖励", group: "资金", icon: Trophy,
    operation: "GET /admin/prizes", menu: true, order: 52.5, component: () => import("./PrizesView.vue"),
  },
  {
    name: "exports", path: "/exports", title: "数据导出", group: "资金", icon: Download,
    operation: "GET /admin/exports", menu: true, order: 53, component: () => import("./ExportsView.vue"),
  },
];
