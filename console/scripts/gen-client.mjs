// Generates src/api/schema.d.ts (the API's types) from docs/openapi.json with openapi-typescript.
//   node scripts/gen-client.mjs           write it
//   node scripts/gen-client.mjs --check   exit 1 if the committed file is stale
import { readFile, writeFile } from "node:fs/promises";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const source = new URL("../../docs/openapi.json", import.meta.url);
const target = new URL("../src/api/schema.d.ts", import.meta.url);

const document = JSON.parse(await readFile(source, "utf8"));
const ast = await openapiTS(document, { alphabetize: true });
const text = COMMENT_HEADER + astToString(ast);

if (process.argv.includes("--check")) {
  const committed = await readFile(target, "utf8").catch(() => "");
  if (committed !== text) {
    console.error("console/src/api/schema.d.ts is stale: run `make openapi`");
    process.exit(1);
  }
} else {
  await writeFile(target, text);
  console.log("wrote console/src/api/schema.d.ts");
}
