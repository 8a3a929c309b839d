import { Box, Files, WarningFilled } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "products", path: "/products", title: "商品管理", group: "商品", icon: Box,
    operation: "GET /admin/products", menu: true, order: 30, component: () => import("./ProductsView.vue"),
  },
  {
    name: "categories", path: "/categories", title: "商品分类", group: "商品", icon: Files,
    operation: "GET /admin/categories", menu: true, order: 31, component: () => import("./CategoriesView.vue"),
  },
  {
    name: "low-stock", path: "/products/low-stock", title: "低库存", group: "商品", icon: WarningFilled,
    operation: "GET /admin/products/low-stock", menu: true, order: 32, component: () => import("./LowStockView.vue"),
  },
];
