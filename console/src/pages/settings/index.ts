import { Document, Present, Setting, Tickets } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "settings", path: "/settings", title: "分销设置", group: "分销设置", icon: Setting,
    operation: "GET /admin/settings/distribution", menu: true, order: 20, component: () => import("./SettingsView.vue"),
  },
  {
    name: "settings-versions", path: "/settings/versions", title: "设置版本", group: "分销设置", icon: Tickets,
    operation: "GET /admin/settings/distribution/versions", menu: true, order: 21,
    component: () => import("./VersionsView.vue"),
  },
  {
    // The rules as promoters see them; shown to those who edit the settings.
    name: "settings-rules", path: "/settings/rules", title: "规则公示", group: "分销设置", icon: Document,
    operation: "GET /admin/settings/distribution", menu: true, order: 22, component: () => import("./RulesView.vue"),
  },
  {
    name: "settings-campaigns", path: "/settings/campaigns", title: "佣金活动", group: "分销设置", icon: Present,
    operation: "GET /admin/campaigns", menu: true, order: 23, component: () => import("./CampaignsView.vue"),
  },
];
