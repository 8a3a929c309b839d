import { Bell, Document, Trophy } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "leaderboard", path: "/leaderboard", title: "排行榜", group: "运营", icon: Trophy,
    operation: "GET /admin/leaderboard", menu: true, order: 82, component: () => import("./LeaderboardView.vue"),
  },
  {
    name: "notifications", path: "/notifications", title: "消息通知", group: "运营", icon: Bell,
    operation: "GET /admin/notifications", menu: true, order: 84, component: () => import("./NotificationsView.vue"),
  },
  {
    name: "reports", path: "/reports", title: "运营周报", group: "运营", icon: Document,
    operation: "GET /admin/reports", menu: true, order: 86, component: () => import("./ReportsView.vue"),
  },
];
