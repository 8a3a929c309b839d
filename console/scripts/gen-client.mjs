// Generates from docs/openapi.json: src/api/schema.d.ts (the API's types, with openapi-typescript) and
// src/api/roles.ts (which roles may call each operation: the console's navigation follows it).
//   node scripts/gen-client.mjs           write them
//   node scripts/gen-client.mjs --check   exit 1 if a committed file is stale
import { readFile, writeFile } from "node:fs/promises";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const source = new URL("../../docs/openapi.json", import.meta.url);
const outputs = {
  schema: new URL("../src/api/schema.d.ts", import.meta.url),
  roles: new URL("../src/api/roles.ts", import.meta.url),
};

const document = JSON.parse(await readFile(source, "utf8"));
const ast = await openapiTS(document, { alphabetize: true });
const texts = {
  schema: COMMENT_HEADER + astToString(ast),
  roles: rolesModule(document),
};

function rolesModule(doc) {
  const lines = [];
  for (const [path, operations] of Object.entries(doc.paths).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [method, operation] of Object.entries(operations).sort(([a], [b]) => a.localeCompare(b))) {
      const roles = operation["x-mall-roles"] ?? [];
      lines.push(`  ${JSON.stringify(`${method.toUpperCase()} ${path}`)}: ${JSON.stringify(roles)},`);
    }
  }
  return [
    "// Generated from docs/openapi.json (x-mall-roles) by scripts/gen-client.mjs: do not edit.",
    "",
    "/** The roles that may call each operation, keyed `METHOD /path` as in the contract. */",
    "export const OPERATION_ROLES = {",
    ...lines,
    "} as const satisfies Record<string, readonly string[]>;",
    "",
    "export type OperationKey = keyof typeof OPERATION_ROLES;",
    "",
  ].join("\n");
}

let stale = false;
for (const [name, url] of Object.entries(outputs)) {
  const relative = `console/src/api/${url.pathname.split("/").pop()}`;
  if (process.argv.includes("--check")) {
    const committed = await readFile(url, "utf8").catch(() => "");
    if (committed !== texts[name]) {
      console.error(`${relative} is stale: run \`make openapi\``);
      stale = true;
    }
  } else {
    await writeFile(url, texts[name]);
    console.log(`wrote ${relative}`);
  }
}
if (stale) process.exit(1);
