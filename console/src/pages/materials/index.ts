import { PictureFilled } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "materials", path: "/materials", title: "素材中心", group: "推广员", icon: PictureFilled,
    operation: "GET /admin/materials", menu: true, order: 24, component: () => import("./MaterialsView.vue"),
  },
];
