import { ChatDotRound, List, RefreshLeft, Van } from "@element-plus/icons-vue";

import type { PageEntry } from "../types";

export const pages: PageEntry[] = [
  {
    name: "orders", path: "/orders", title: "订单管理", group: "订单", icon: List,
    operation: "GET /admin/orders", menu: true, order: 40, component: () => import("./OrdersView.vue"),
  },
  {
    name: "order", path: "/orders/:orderId", title: "订单详情", group: "订单",
    operation: "GET /admin/orders/{order_id}", order: 41, component: () => import("./OrderDetailView.vue"),
  },
  {
    name: "refunds", path: "/refunds", title: "退款审核", group: "订单", icon: RefreshLeft,
    operation: "GET /admin/refunds", menu: true, order: 42, component: () => import("./RefundsView.vue"),
  },
  {
    name: "shipping-uploads", path: "/shipping-uploads", title: "发货信息同步", group: "订单", icon: Van,
    operation: "GET /admin/shipping/uploads", menu: true, order: 43,
    component: () => import("./ShippingUploadsView.vue"),
  },
  {
    name: "wechat-messages", path: "/wechat-messages", title: "微信消息", group: "订单", icon: ChatDotRound,
    operation: "GET /admin/wechat-messages", menu: true, order: 44, component: () => import("./WeChatMessagesView.vue"),
  },
];
