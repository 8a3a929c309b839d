/**
 * What a product says, as the merchant edits it: the attributes of its kind, the description's
 * blocks and the after-sales policy (售后政策), and the request fields they become. Edits send
 * them only when they changed, so a price edit never rewrites the product's detail.
 */
import type { components } from "../../api/schema";

type Product = components["schemas"]["AdminProductView"];
type Attributes = components["schemas"]["ProductAttributesIn"];
type Block = components["schemas"]["ContentBlockIn"];
type AfterSales = components["schemas"]["AfterSalesIn"];
type ProductType = Product["type"];

export type BlockType = Block["type"];
export type ShippingPayer = NonNullable<AfterSales["return_shipping_paid_by"]>;

export interface BlockForm {
  type: BlockType;
  /** heading / text blocks */
  text: string;
  /** image blocks: a verified key of the product's gallery */
  key: string;
}

export interface ContentForm {
  weight_g: number | null;
  origin: string;
  shelf_life_days: number | null;
  /** one step a line */
  itinerary: string;
  restrictions: string;
  terms_title: string;
  terms_text: string;
  delivery_method: Attributes["delivery_method"] | "";
  delivery_note: string;
  blocks: BlockForm[];
  /** false: the kind's default policy (sent as null) */
  own_policy: boolean;
  no_reason_return: boolean;
  return_window_days: number;
  return_shipping_paid_by: ShippingPayer;
  policy_note: string;
}

export interface ContentFields {
  attributes: Attributes;
  content: Block[];
  after_sales: AfterSales | null;
}

export function emptyContentForm(): ContentForm {
  return {
    weight_g: null, origin: "", shelf_life_days: null, itinerary: "", restrictions: "", terms_title: "",
    terms_text: "", delivery_method: "", delivery_note: "", blocks: [], own_policy: false, no_reason_return: true,
    return_window_days: 7, return_shipping_paid_by: "buyer", policy_note: "",
  };
}

export function contentForm(p: Product): ContentForm {
  const a = p.attributes ?? {};
  const policy = p.after_sales;
  const own = policy != null && !policy.is_default;
  return {
    weight_g: a.weight_g ?? null, origin: a.origin ?? "", shelf_life_days: a.shelf_life_days ?? null,
    itinerary: (a.itinerary ?? []).join("\n"), restrictions: a.restrictions ?? "", terms_title: a.terms_title ?? "",
    terms_text: a.terms_text ?? "", delivery_method: a.delivery_method ?? "", delivery_note: a.delivery_note ?? "",
    blocks: (p.content ?? []).map((b) => ({ type: b.type, text: b.text ?? "", key: b.key ?? "" })),
    own_policy: own,
    no_reason_return: own ? policy.no_reason_return : true,
    return_window_days: own ? policy.return_window_days : 7,
    return_shipping_paid_by: own ? policy.return_shipping_paid_by : "buyer",
    policy_note: own ? policy.note : "",
  };
}

/** The attributes of `type` only: what a form holds for another kind is left out, not sent. */
export function contentFields(form: ContentForm, type: ProductType): ContentFields {
  const text = (value: string): string | null => value.trim() || null;
  const attributes: Attributes = {};
  if (type === "physical") {
    attributes.weight_g = form.weight_g || null;
    attributes.origin = text(form.origin);
    attributes.shelf_life_days = form.shelf_life_days || null;
  } else if (type === "service") {
    const steps = form.itinerary.split("\n").map((s) => s.trim()).filter(Boolean);
    attributes.itinerary = steps.length ? steps : null;
    attributes.restrictions = text(form.restrictions);
    attributes.terms_title = text(form.terms_title);
    attributes.terms_text = text(form.terms_text);
  } else {
    attributes.delivery_method = form.delivery_method || null;
    attributes.delivery_note = text(form.delivery_note);
  }
  for (const key of Object.keys(attributes) as (keyof Attributes)[]) {
    if (attributes[key] === null) delete attributes[key];
  }
  const content: Block[] = form.blocks.map((b) => (b.type === "image" ? { type: "image", key: b.key } : { type: b.type, text: b.text }));
  const after_sales: AfterSales | null = form.own_policy
    ? {
      no_reason_return: form.no_reason_return, return_window_days: form.return_window_days,
      return_shipping_paid_by: form.return_shipping_paid_by, note: form.policy_note.trim(),
    }
    : null;
  return { attributes, content, after_sales };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The content fields that differ from what `current` says (all of them when its type changed:
 * the attributes of the old kind must be replaced). */
export function changedContent(form: ContentForm, type: ProductType, current: Product): Partial<ContentFields> {
  const next = contentFields(form, type);
  const was = contentFields(contentForm(current), current.type);
  const changed: Partial<ContentFields> = {};
  if (type !== current.type || !same(next.attributes, was.attributes)) changed.attributes = next.attributes;
  if (!same(next.content, was.content)) changed.content = next.content;
  if (!same(next.after_sales, was.after_sales)) changed.after_sales = next.after_sales;
  return changed;
}

/** The form's problems the API would refuse, keyed by the API's field names. */
export function contentErrors(form: ContentForm): Record<string, string> {
  const errors: Record<string, string> = {};
  form.blocks.forEach((b, i) => {
    if (b.type === "image" && !b.key) errors[`content.${i}.key`] = "请选择一张商品图片";
    if (b.type !== "image" && !b.text.trim()) errors[`content.${i}.text`] = "请填写内容";
  });
  if (form.own_policy && form.no_reason_return && form.return_window_days < 7) {
    errors["after_sales.return_window_days"] = "承诺7天无理由退货时，退货期限至少 7 天";
  }
  return errors;
}
