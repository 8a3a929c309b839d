/**
 * Product images (商品图片) as the product form holds them: the media-bucket keys the product
 * refers to, and the uploads still under way. An upload asks the API for a presigned form, sends
 * the file straight to storage, then has the API check it; only a verified key goes into `images`.
 */
import type { components } from "../../api/schema";

type UploadForm = components["schemas"]["UploadForm"];
type VerifiedImage = components["schemas"]["VerifiedImage"];
export type ImageType = components["schemas"]["UploadRequest"]["content_type"];

/** What the API accepts (mall.domain.media): checked here first so a wrong file costs no request. */
export const IMAGE_TYPES: readonly ImageType[] = ["image/jpeg", "image/png", "image/webp"];
export const MAX_IMAGE_BYTES = 5_000_000;
/** A product has at most this many images; the first is its cover. */
export const MAX_IMAGES = 9;

export type FileCheck = { ok: true; contentType: ImageType } | { ok: false; reason: string };

/** Whether a picked file may be uploaded: its type as the browser reports it, and its size. */
export function checkImageFile(file: { name: string; type: string; size: number }): FileCheck {
  const type = IMAGE_TYPES.find((t) => t === file.type);
  if (type === undefined) return { ok: false, reason: `${file.name}：只能上传 JPG、PNG 或 WebP 图片` };
  if (file.size <= 0) return { ok: false, reason: `${file.name}：文件是空的` };
  if (file.size > MAX_IMAGE_BYTES) {
    return { ok: false, reason: `${file.name}：图片不能超过 5 MB（此文件 ${(file.size / 1_000_000).toFixed(1)} MB）` };
  }
  return { ok: true, contentType: type };
}

/**
 * The multipart form storage expects: every field of the presigned form in the order given, then
 * the file last (S3 ignores anything after the file, and refuses a form whose policy fields are
 * missing).
 */
export function storageForm(form: Pick<UploadForm, "fields">, file: Blob, fileName: string): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  body.append("file", file, fileName);
  return body;
}

/** Why storage refused a form post, from its status and (S3's XML) error body. */
export function storageRefusal(status: number, body: string): string {
  if (status === 0) return "无法连接图片存储（网络中断或存储未允许本站跨域上传）";
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? "";
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? "";
  if (code === "EntityTooLarge") return "图片超过存储允许的大小（5 MB）";
  if (code === "AccessDenied" && /expired/i.test(message)) return "上传表单已过期，请重新上传";
  const said = [code, message].filter(Boolean).join(": ");
  return `图片存储拒绝了上传（HTTP ${status}${said ? `，${said}` : ""}）`;
}

/** Posts a form to storage, reporting upload progress (0..1); resolves with the answer, whatever it is. */
export type SendForm = (url: string, body: FormData, onProgress: (fraction: number) => void) =>
  Promise<{ status: number; body: string }>;

/** The browser's sender: XMLHttpRequest, because fetch reports no upload progress. */
export const xhrSendForm: SendForm = (url, body, onProgress) =>
  new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    request.onload = () => resolve({ status: request.status, body: request.responseText });
    // A network failure or a refused cross-origin answer: the browser says no more than that.
    request.onerror = () => resolve({ status: 0, body: "" });
    request.send(body);
  });

export type ImageState = "uploading" | "verifying" | "done" | "failed";

/** One image of the form: a verified key (`done`), or an upload under way or refused. */
export interface ImageItem {
  uid: string;
  name: string;
  state: ImageState;
  /** Percent of the file sent to storage. */
  progress: number;
  /** The media-bucket key, once verified (or as the product already had it). */
  key: string | null;
  /** Where to show it from: a signed URL of the API, or the picked file itself. */
  preview: string | null;
  error: string | null;
}

let counter = 0;

function uid(): string {
  counter += 1;
  return `image-${counter}`;
}

/** The images a product already has, in its order. */
export function itemsOf(keys: readonly string[], previews: Readonly<Record<string, string>> = {}): ImageItem[] {
  return keys.map((key) => ({
    uid: uid(), name: key.split("/").pop() ?? key, state: "done", progress: 100, key, preview: previews[key] ?? null,
    error: null,
  }));
}

export function pendingItem(name: string, preview: string | null): ImageItem {
  return { uid: uid(), name, state: "uploading", progress: 0, key: null, preview, error: null };
}

/** The keys the product is saved with: verified images only, in the order shown. */
export function imageKeys(items: readonly ImageItem[]): string[] {
  return items.flatMap((item) => (item.state === "done" && item.key ? [item.key] : []));
}

/** Whether an upload is still under way (the form is not saved meanwhile). */
export function uploading(items: readonly ImageItem[]): boolean {
  return items.some((item) => item.state === "uploading" || item.state === "verifying");
}

/** How many more images may be added (refused ones do not count). */
export function room(items: readonly ImageItem[]): number {
  return Math.max(0, MAX_IMAGES - items.filter((item) => item.state !== "failed").length);
}

/** The list with the item at `index` moved one place (-1: earlier, 1: later); unchanged at an end. */
export function moved<T>(items: readonly T[], index: number, by: -1 | 1): T[] {
  const target = index + by;
  const next = [...items];
  if (index < 0 || index >= items.length || target < 0 || target >= items.length) return next;
  [next[index], next[target]] = [next[target], next[index]];
  return next;
}

export interface UploadSteps {
  start(contentType: ImageType): Promise<UploadForm>;
  send: SendForm;
  verify(uploadId: string): Promise<VerifiedImage>;
  /** The API's message of a refused request. */
  describe(error: unknown): string;
}

/**
 * Uploads `file` for `item` (a reactive item of the form): the presigned form, the file straight
 * to storage, the check. The item ends `done` with the verified key, or `failed` with the reason of
 * the step that refused it; it never throws.
 */
export async function uploadImage(file: File, contentType: ImageType, item: ImageItem, steps: UploadSteps): Promise<void> {
  const fail = (reason: string): void => {
    item.state = "failed";
    item.error = reason;
  };
  let form: UploadForm;
  try {
    form = await steps.start(contentType);
  } catch (error) {
    return fail(`申请上传失败：${steps.describe(error)}`);
  }
  let answer: { status: number; body: string };
  try {
    answer = await steps.send(form.url, storageForm(form, file, file.name), (fraction) => {
      item.progress = Math.min(100, Math.round(fraction * 100));
    });
  } catch (error) {
    return fail(`上传失败：${steps.describe(error)}`);
  }
  if (answer.status < 200 || answer.status >= 300) return fail(storageRefusal(answer.status, answer.body));
  item.progress = 100;
  item.state = "verifying";
  try {
    const verified = await steps.verify(form.upload_id);
    item.key = verified.key;
    item.state = "done";
  } catch (error) {
    fail(`图片未通过检查：${steps.describe(error)}`);
  }
}
