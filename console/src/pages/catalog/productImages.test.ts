import { describe, expect, it } from "vitest";

import { ApiError } from "../../api/client";
import {
  checkImageFile, imageKeys, itemsOf, MAX_IMAGE_BYTES, moved, pendingItem, room, storageForm, storageRefusal,
  uploadImage, uploading, type ImageItem, type UploadSteps,
} from "./productImages";

const KEY = "product-images/0123456789abcdef0123456789abcdef.png";
const FORM = {
  upload_id: "0123456789abcdef0123456789abcdef", key: KEY, url: "http://127.0.0.1:5000/mediabucket",
  fields: { "Content-Type": "image/png", key: KEY, "x-amz-algorithm": "AWS4-HMAC-SHA256", policy: "eyJ…", "x-amz-signature": "abc" },
  max_bytes: MAX_IMAGE_BYTES, expires_at: "2030-01-01T00:00:00Z",
};

function refused(status: number, message: string, code = "invalid_image"): ApiError {
  return new ApiError(status, { error: { code, message, fields: [], details: {} } } as never, {});
}

describe("picking a file", () => {
  it("takes jpeg, png and webp up to 5 MB", () => {
    expect(checkImageFile({ name: "a.png", type: "image/png", size: 1 })).toEqual({ ok: true, contentType: "image/png" });
    expect(checkImageFile({ name: "a.jpg", type: "image/jpeg", size: MAX_IMAGE_BYTES })).toEqual({ ok: true, contentType: "image/jpeg" });
    expect(checkImageFile({ name: "a.webp", type: "image/webp", size: 10 }).ok).toBe(true);
  });

  it("refuses other types, empty files and files over 5 MB, naming the file", () => {
    const gif = checkImageFile({ name: "a.gif", type: "image/gif", size: 10 });
    expect(gif).toEqual({ ok: false, reason: "a.gif：只能上传 JPG、PNG 或 WebP 图片" });
    expect(checkImageFile({ name: "x", type: "", size: 10 }).ok).toBe(false);
    expect(checkImageFile({ name: "svg", type: "image/svg+xml", size: 10 }).ok).toBe(false);
    expect(checkImageFile({ name: "e.png", type: "image/png", size: 0 })).toEqual({ ok: false, reason: "e.png：文件是空的" });
    const big = checkImageFile({ name: "b.png", type: "image/png", size: MAX_IMAGE_BYTES + 1 });
    expect(big).toEqual({ ok: false, reason: "b.png：图片不能超过 5 MB（此文件 5.0 MB）" });
  });
});

describe("the storage form", () => {
  it("has every presigned field in order, then the file last", async () => {
    const file = new File(["png bytes"], "tea.png", { type: "image/png" });
    const body = storageForm(FORM, file, "tea.png");
    const names = [...body.keys()];
    expect(names).toEqual(["Content-Type", "key", "x-amz-algorithm", "policy", "x-amz-signature", "file"]);
    expect(body.get("key")).toBe(KEY);
    expect(body.get("Content-Type")).toBe("image/png");
    const sent = body.get("file") as File;
    expect(sent.name).toBe("tea.png");
    expect(await sent.text()).toBe("png bytes");
  });

  it("explains storage's refusals", () => {
    expect(storageRefusal(0, "")).toContain("无法连接图片存储");
    expect(storageRefusal(400, "<Error><Code>EntityTooLarge</Code><Message>too big</Message></Error>"))
      .toBe("图片超过存储允许的大小（5 MB）");
    expect(storageRefusal(403, "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>"))
      .toBe("上传表单已过期，请重新上传");
    expect(storageRefusal(403, "<Error><Code>AccessDenied</Code><Message>Policy Condition failed</Message></Error>"))
      .toBe("图片存储拒绝了上传（HTTP 403，AccessDenied: Policy Condition failed）");
    expect(storageRefusal(500, "oops")).toBe("图片存储拒绝了上传（HTTP 500）");
  });
});

describe("the image list", () => {
  const other = "product-images/ffffffffffffffffffffffffffffffff.jpg";

  it("saves verified keys only, in the order shown", () => {
    const items = [...itemsOf([KEY], { [KEY]: "https://signed/1" }), pendingItem("b.png", null), ...itemsOf([other])];
    expect(items[0]).toMatchObject({ key: KEY, state: "done", preview: "https://signed/1" });
    expect(imageKeys(items)).toEqual([KEY, other]);
    expect(uploading(items)).toBe(true);
    expect(imageKeys(moved(items, 2, -1))).toEqual([KEY, other]);
    expect(imageKeys(moved(items, 0, 1))).toEqual([KEY, other]);
    expect(imageKeys(moved(moved(items, 0, 1), 1, 1))).toEqual([other, KEY]);
  });

  it("moves an item one place and leaves the ends alone", () => {
    expect(moved(["a", "b", "c"], 1, -1)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b", "c"], 1, 1)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moved(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });

  it("counts room for nine, refused uploads not counted", () => {
    const keys = Array.from({ length: 8 }, (_, i) => `product-images/${String(i).repeat(32)}.png`);
    const items = itemsOf(keys);
    expect(room(items)).toBe(1);
    const failed: ImageItem = { ...pendingItem("x.png", null), state: "failed", error: "no" };
    expect(room([...items, failed])).toBe(1);
    expect(room([...items, pendingItem("y.png", null)])).toBe(0);
  });
});

describe("uploading an image", () => {
  const file = new File(["\x89PNG"], "tea.png", { type: "image/png" });

  function steps(overrides: Partial<UploadSteps> = {}): UploadSteps & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      start: async (type) => { calls.push(`start ${type}`); return FORM; },
      send: async (url, body, onProgress) => {
        calls.push(`send ${url} ${[...body.keys()].at(-1)}`);
        onProgress(0.5);
        onProgress(1);
        return { status: 204, body: "" };
      },
      verify: async (id) => {
        calls.push(`verify ${id}`);
        return { upload_id: id, key: KEY, content_type: "image/png", width: 300, height: 300, bytes: 1000 };
      },
      describe: (error) => (error instanceof Error ? error.message : String(error)),
      ...overrides,
    };
  }

  it("asks for a form, posts the file to its URL, then verifies; the verified key is kept", async () => {
    const item = pendingItem("tea.png", null);
    const seen: number[] = [];
    const run = steps();
    const send = run.send;
    run.send = async (url, body, onProgress) => send(url, body, (f) => { onProgress(f); seen.push(item.progress); });
    await uploadImage(file, "image/png", item, run);
    expect(run.calls).toEqual([`start image/png`, `send ${FORM.url} file`, `verify ${FORM.upload_id}`]);
    expect(seen).toEqual([50, 100]);
    expect(item).toMatchObject({ state: "done", key: KEY, error: null, progress: 100 });
    expect(imageKeys([item])).toEqual([KEY]);
  });

  it("shows the API's refusal of the check and keeps no key", async () => {
    const item = pendingItem("fake.png", null);
    const message = "the uploaded file is not an acceptable image: not a readable image (or too many pixels)";
    await uploadImage(file, "image/png", item, steps({ verify: async () => { throw refused(422, message); } }));
    expect(item).toMatchObject({ state: "failed", key: null, error: `图片未通过检查：${message}` });
    expect(imageKeys([item])).toEqual([]);
    expect(uploading([item])).toBe(false);
  });

  it("stops at storage's refusal without verifying", async () => {
    const item = pendingItem("tea.png", null);
    const run = steps({ send: async () => ({ status: 403, body: "<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>" }) });
    await uploadImage(file, "image/png", item, run);
    expect(item).toMatchObject({ state: "failed", key: null, error: "上传表单已过期，请重新上传" });
    expect(run.calls).toEqual(["start image/png"]);
  });

  it("stops when the API refuses to start", async () => {
    const item = pendingItem("tea.png", null);
    await uploadImage(file, "image/png", item, steps({ start: async () => { throw refused(403, "forbidden", "forbidden"); } }));
    expect(item).toMatchObject({ state: "failed", error: "申请上传失败：forbidden" });
  });
});
