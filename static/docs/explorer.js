/**
 * The API explorer behind /docs: fetches /openapi.json and lists every
 * operation, grouped by tag (or by path when an operation has none), with its
 * method, summary, parameters, request body and responses, then the named
 * schemas. Every string from the document is set with textContent — nothing
 * is parsed as HTML.
 */

const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];

/** Creates an element whose text (if any) is set with textContent. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/** The name of a `#/components/…/Name` reference. */
function refName(ref) {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

/** Follows a local `$ref` (parameters, responses, request bodies). */
function resolve(doc, value) {
  if (!value || typeof value.$ref !== "string" || !value.$ref.startsWith("#/")) return value;
  let target = doc;
  for (const part of value.$ref.slice(2).split("/")) target = target?.[part];
  return target ?? value;
}

/** A one-line description of a schema: a link for named schemas, else its type. */
function schemaNode(schema) {
  if (!schema) return el("span", "", "—");
  if (typeof schema.$ref === "string") {
    const link = el("a", "", refName(schema.$ref));
    link.href = `#schema-${refName(schema.$ref)}`;
    return link;
  }
  if (schema.type === "array") {
    const span = el("span", "", "array of ");
    span.append(schemaNode(schema.items));
    return span;
  }
  const parts = [];
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  parts.push(type ?? (schema.anyOf || schema.oneOf ? "one of several" : "any"));
  if (schema.format) parts.push(`(${schema.format})`);
  if (schema.enum) parts.push(`: ${schema.enum.join(", ")}`);
  if (schema.const !== undefined) parts.push(`= ${JSON.stringify(schema.const)}`);
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return el("code", "", parts.join(" "));
}

/** A table with a header row and one row per item. */
function table(headings, rows) {
  const node = el("table");
  const head = node.createTHead().insertRow();
  for (const heading of headings) head.append(el("th", "", heading));
  const body = node.createTBody();
  for (const cells of rows) {
    const row = body.insertRow();
    for (const cell of cells) {
      const td = row.insertCell();
      td.append(cell instanceof Node ? cell : el("span", "", cell ?? ""));
    }
  }
  return node;
}

/** Rows of `content type → schema` for a request body or a response. */
function contentRows(content) {
  return Object.entries(content ?? {}).map((
    [type, media],
  ) => [el("code", "", type), schemaNode(media.schema)]);
}

function operationNode(doc, path, method, operation, pathItem) {
  const details = el("details", "operation");
  details.dataset.search = `${method} ${path} ${operation.summary ?? ""}`.toLowerCase();
  const summary = el("summary");
  summary.append(el("span", `method ${method}`, method), el("span", "path", path));
  summary.append(el("span", "", operation.summary ?? ""));
  const security = operation.security ?? doc.security ?? [];
  const schemes = security.flatMap((requirement) => Object.keys(requirement));
  if (schemes.length > 0) summary.append(el("span", "lock", `requires ${schemes.join(", ")}`));
  details.append(summary);

  const body = el("div");
  if (operation.description) body.append(el("p", "", operation.description));
  const parameters = [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])]
    .map((parameter) => resolve(doc, parameter));
  if (parameters.length > 0) {
    body.append(el("h4", "", "Parameters"));
    body.append(table(
      ["name", "in", "required", "schema", "description"],
      parameters.map((p) => [
        el("code", "", p.name),
        p.in,
        p.required ? "yes" : "no",
        schemaNode(p.schema),
        p.description ?? "",
      ]),
    ));
  }
  const requestBody = resolve(doc, operation.requestBody);
  if (requestBody) {
    body.append(el("h4", "", `Request body${requestBody.required ? " (required)" : ""}`));
    body.append(table(["content type", "schema"], contentRows(requestBody.content)));
  }
  body.append(el("h4", "", "Responses"));
  const responses = Object.entries(operation.responses ?? {}).map(([status, raw]) => {
    const response = resolve(doc, raw);
    const types = el("div");
    for (const [type, schema] of contentRows(response.content)) {
      const line = el("div");
      line.append(type, " ", schema);
      types.append(line);
    }
    return [el("strong", "", status), response.description ?? "", types];
  });
  body.append(table(["status", "description", "content"], responses));
  details.append(body);
  return details;
}

/** The group an operation is listed under: its first tag, else its path's first part. */
function groupOf(path, operation) {
  if (operation.tags?.length) return operation.tags[0];
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "api") return parts.length > 1 ? `/api/${parts[1]}` : "/api";
  return parts.length > 0 ? `/${parts[0].replace(/\{.*$/, "")}` : "/";
}

function renderOperations(doc) {
  const groups = new Map();
  for (const [path, pathItem] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = pathItem[method];
      if (!operation) continue;
      const group = groupOf(path, operation);
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(operationNode(doc, path, method, operation, pathItem));
    }
  }
  const toc = document.getElementById("toc");
  const container = document.getElementById("operations");
  [...groups.keys()].sort().forEach((group, index) => {
    const section = el("section", "group");
    section.id = `group-${index}`;
    section.append(el("h2", "", group), ...groups.get(group));
    container.append(section);
    const link = el("a", "", group);
    link.href = `#group-${index}`;
    toc.append(link);
  });
}

function renderSchemas(doc) {
  const schemas = Object.entries(doc.components?.schemas ?? {});
  if (schemas.length === 0) return;
  const container = document.getElementById("schemas");
  for (const [name, schema] of schemas) {
    const section = el("section");
    section.id = `schema-${name}`;
    section.append(el("h3", "", name), el("pre", "", JSON.stringify(schema, null, 2)));
    container.append(section);
  }
  document.getElementById("schemas-section").hidden = false;
}

function applyFilter(text) {
  const needle = text.trim().toLowerCase();
  for (const section of document.querySelectorAll("section.group")) {
    let visible = 0;
    for (const operation of section.querySelectorAll("details.operation")) {
      const match = needle === "" || operation.dataset.search.includes(needle);
      operation.hidden = !match;
      if (match) visible += 1;
    }
    section.hidden = visible === 0;
  }
}

async function main() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`Cannot load /openapi.json: HTTP ${response.status}`);
    const doc = await response.json();
    document.getElementById("title").textContent = `${doc.info?.title ?? "API"} ${
      doc.info?.version ?? ""
    }`;
    document.getElementById("description").textContent = doc.info?.description ?? "";
    renderOperations(doc);
    renderSchemas(doc);
    status.textContent = "";
    document.getElementById("filter").addEventListener("input", (event) => {
      applyFilter(event.target.value);
    });
  } catch (error) {
    status.className = "error";
    status.textContent = error instanceof Error ? error.message : String(error);
  }
}

main();
