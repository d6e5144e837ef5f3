/**
 * The owner's share links and file requests on the signed-in page: a
 * "Share" button for each stored file (a dialog with expiry, download limit
 * and password), the list of links with copy, counts, last accesses and
 * revoke, and the file requests (create, copy, revoke). The cards and the
 * dialog are built here into one placeholder of index.html, so the rest of
 * the page only hands over a root element and asks for the Share button.
 */
import { api } from "./api.js";
import { formatBytes, formatDate } from "./format.js";
import { copyText, el, uniqueId } from "./ui.js";

const EXPIRY_CHOICES = [
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
];
const STATE_LABELS = { active: "Active", expired: "Expired", used_up: "Used up", full: "Full" };
const ACCESSES_SHOWN = 10;

/** The absolute URL of a link path (`/s/…`, `/r/…`). */
function absolute(path) {
  return new URL(path, location.origin).href;
}

function field(label, input, hint) {
  const id = uniqueId("field");
  input.id = id;
  return el("div", { class: "field" }, [
    el("label", { text: label, attrs: { for: id } }),
    input,
    ...(hint ? [el("p", { class: "hint", text: hint })] : []),
  ]);
}

function button(text, onClick, extra = "") {
  const node = el("button", {
    class: `button button-small ${extra}`.trim(),
    text,
    attrs: { type: "button" },
  });
  node.addEventListener("click", () => onClick(node));
  return node;
}

/**
 * Creates the share and request controller.
 *
 * @param {{root: HTMLElement, notify: (text: string, kind?: string) => void}} options
 */
export function createShares({ root, notify }) {
  /** @type {Map<string, string>} File names by id, learnt from the file list. */
  const names = new Map();
  const shareList = el("ul", { class: "files", attrs: { id: "shares", "aria-label": "Links" } });
  const sharesEmpty = el("p", {
    class: "empty",
    text: "No links yet. Use “Share” on a stored file.",
  });
  const requestList = el("ul", {
    class: "files",
    attrs: { id: "requests", "aria-label": "File requests" },
  });

  // The dialog that makes a link.
  const expiry = el(
    "select",
    { attrs: { name: "expires_in" } },
    EXPIRY_CHOICES.map(([value, text]) =>
      el("option", { text, attrs: value === "604800" ? { value, selected: "" } : { value } })
    ),
  );
  const maxDownloads = el("input", {
    attrs: { name: "max_downloads", type: "number", min: "1", step: "1", inputmode: "numeric" },
  });
  const password = el("input", {
    attrs: { name: "password", type: "password", autocomplete: "new-password", maxlength: "1024" },
  });
  const dialogError = el("p", { class: "error-text", attrs: { role: "alert", hidden: "" } });
  const dialogTitle = el("h2", { text: "Share", attrs: { id: uniqueId("share-title") } });
  const createButton = el("button", {
    class: "button button-primary",
    text: "Create link",
    attrs: { type: "submit" },
  });
  const form = el("form", { class: "stack", attrs: { novalidate: "" } }, [
    dialogTitle,
    field("Expires after", expiry),
    field("Download limit", maxDownloads, "Leave empty for no limit until it expires."),
    field("Password", password, "Optional; at least 8 characters."),
    dialogError,
    el("div", { class: "button-row" }, [
      createButton,
      button("Cancel", () => dialog.close()),
    ]),
  ]);
  const dialog = el("dialog", {
    class: "card share-dialog",
    attrs: { id: "share-dialog", "aria-labelledby": dialogTitle.id },
  }, [form]);
  let sharing;
  // The dialog is in the document only while it is open: its fields must not
  // be found (by labels, by autofill) next to the sign-in form's.
  dialog.addEventListener("close", () => dialog.remove());

  function openDialog(record) {
    root.append(dialog);
    sharing = record;
    dialogTitle.textContent = `Share “${record.name}”`;
    maxDownloads.value = "";
    password.value = "";
    dialogError.hidden = true;
    dialog.showModal();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { expires_in: Number(expiry.value) };
    if (maxDownloads.value) body.max_downloads = Number(maxDownloads.value);
    if (password.value) body.password = password.value;
    if (password.value && [...password.value].length < 8) {
      dialogError.textContent = "Passwords need at least 8 characters";
      dialogError.hidden = false;
      return;
    }
    createButton.disabled = true;
    try {
      const share = await api(`/api/files/${encodeURIComponent(sharing.id)}/shares`, {
        method: "POST",
        body,
      });
      dialog.close();
      await reload();
      try {
        await copyText(absolute(share.url));
        notify(`Link to “${sharing.name}” created and copied`, "success");
      } catch {
        notify(`Link to “${sharing.name}” created`, "success");
      }
    } catch (failure) {
      dialogError.textContent = failure.message;
      dialogError.hidden = false;
    } finally {
      createButton.disabled = false;
    }
  });

  async function fileName(id) {
    if (!names.has(id)) {
      try {
        names.set(id, (await api(`/api/files/${encodeURIComponent(id)}`)).name);
      } catch {
        names.set(id, "(deleted file)");
      }
    }
    return names.get(id);
  }

  async function copyLink(path, what) {
    try {
      await copyText(absolute(path));
      notify(`${what} copied`, "success");
    } catch (failure) {
      notify(failure.message, "error");
    }
  }

  async function toggleAccesses(share, panel, toggle) {
    if (!panel.hidden) {
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      return;
    }
    try {
      const { accesses } = await api(`/api/shares/${encodeURIComponent(share.id)}/accesses`);
      panel.replaceChildren(
        ...(accesses.length === 0
          ? [el("li", { class: "hint", text: "No downloads yet." })]
          : accesses.slice(0, ACCESSES_SHOWN).map((access) =>
            el("li", {
              class: "hint",
              text: `${formatDate(access.at)} · ${access.address} · ${formatBytes(access.bytes)}${
                access.completed ? "" : " (not finished)"
              }`,
            })
          )),
      );
      panel.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
    } catch (failure) {
      notify(`Cannot read the activity: ${failure.message}`, "error");
    }
  }

  async function revoke(path, what) {
    if (!confirm(`Revoke this ${what}? Whoever has it will no longer be able to use it.`)) return;
    try {
      await api(path, { method: "DELETE" });
      notify(`${what[0].toUpperCase()}${what.slice(1)} revoked`, "success");
    } catch (failure) {
      notify(`Cannot revoke: ${failure.message}`, "error");
    }
    await reload();
  }

  async function shareRow(share) {
    const limit = share.max_downloads === null ? "" : ` of ${share.max_downloads}`;
    const accesses = el("ul", { class: "accesses", attrs: { hidden: "", id: uniqueId("acc") } });
    const activity = button("Activity", (b) => toggleAccesses(share, accesses, b));
    activity.setAttribute("aria-controls", accesses.id);
    activity.setAttribute("aria-expanded", "false");
    const row = el("li", { class: "file share", attrs: { "data-id": share.id } }, [
      el("div", { class: "file-main" }, [
        el("p", { class: "file-name", text: await fileName(share.file_id) }),
        el("p", { class: "file-meta" }, [
          el("span", { text: `${share.downloads}${limit} downloads` }),
          el("span", { text: `· ${formatBytes(share.bytes_served)} served` }),
          el("span", { text: `· until ${formatDate(share.expires_at)}` }),
          ...(share.has_password ? [el("span", { text: "· password" })] : []),
        ]),
        el("code", { class: "link-url", text: absolute(share.url) }),
        accesses,
      ]),
      el("span", {
        class: `badge ${share.state === "active" ? "badge-stored" : "badge-failed"}`,
        text: STATE_LABELS[share.state] ?? share.state,
      }),
      el("div", { class: "file-actions", attrs: { role: "group", "aria-label": "Link actions" } }, [
        button("Copy link", () => copyLink(share.url, "Link")),
        activity,
        button(
          "Revoke",
          () => revoke(`/api/shares/${encodeURIComponent(share.id)}`, "link"),
          "button-danger",
        ),
      ]),
    ]);
    return row;
  }

  function requestRow(request) {
    const limit = request.max_files === null ? "" : ` of ${request.max_files}`;
    return el("li", { class: "file request", attrs: { "data-id": request.id } }, [
      el("div", { class: "file-main" }, [
        el("p", { class: "file-name", text: request.title }),
        el("p", { class: "file-meta" }, [
          el("span", { text: `${request.files_received}${limit} files received` }),
          el("span", { text: `· until ${formatDate(request.expires_at)}` }),
          ...(request.has_password ? [el("span", { text: "· password" })] : []),
        ]),
        el("code", { class: "link-url", text: absolute(request.url) }),
      ]),
      el("span", {
        class: `badge ${request.state === "active" ? "badge-stored" : "badge-failed"}`,
        text: STATE_LABELS[request.state] ?? request.state,
      }),
      el("div", {
        class: "file-actions",
        attrs: { role: "group", "aria-label": "Request actions" },
      }, [
        button("Copy link", () => copyLink(request.url, "Upload link")),
        button(
          "Revoke",
          () => revoke(`/api/requests/${encodeURIComponent(request.id)}`, "upload link"),
          "button-danger",
        ),
      ]),
    ]);
  }

  // The form that makes a file request.
  const requestTitle = el("input", { attrs: { name: "title", maxlength: "200", required: "" } });
  const requestMax = el("input", {
    attrs: { name: "max_files", type: "number", min: "1", step: "1", inputmode: "numeric" },
  });
  const requestForm = el("form", { class: "stack", attrs: { novalidate: "" } }, [
    field("What should people send you?", requestTitle),
    field("Most files", requestMax, "Leave empty for no limit. The link works for 7 days."),
    el("div", { class: "button-row" }, [
      el("button", { class: "button", text: "Create upload link", attrs: { type: "submit" } }),
    ]),
  ]);
  requestForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { title: requestTitle.value.trim() };
    if (!body.title) return notify("Give the request a title", "error");
    if (requestMax.value) body.max_files = Number(requestMax.value);
    try {
      const request = await api("/api/requests", { method: "POST", body });
      requestTitle.value = "";
      requestMax.value = "";
      await reload();
      await copyLink(request.url, "Upload link");
    } catch (failure) {
      notify(`Cannot create the upload link: ${failure.message}`, "error");
    }
  });

  const sharesTitle = el("h2", { text: "Shared links", attrs: { id: "shares-title" } });
  const requestsTitle = el("h2", { text: "File requests", attrs: { id: "requests-title" } });
  root.replaceChildren(
    el("section", { class: "card", attrs: { "aria-labelledby": sharesTitle.id } }, [
      el("div", { class: "card-head" }, [
        sharesTitle,
        button("Refresh", () => reload(), "button-quiet"),
      ]),
      sharesEmpty,
      shareList,
    ]),
    el("section", { class: "card", attrs: { "aria-labelledby": requestsTitle.id } }, [
      requestsTitle,
      el("p", {
        class: "lead",
        text: "An upload link lets people without an account send files into your Coffer.",
      }),
      requestForm,
      requestList,
    ]),
  );

  let generation = 0;
  async function reload() {
    const started = ++generation;
    try {
      const [{ shares }, { requests }] = await Promise.all([
        api("/api/shares?limit=200"),
        api("/api/requests?limit=200"),
      ]);
      const rows = await Promise.all(shares.map(shareRow));
      if (started !== generation) return;
      shareList.replaceChildren(...rows);
      sharesEmpty.hidden = shares.length > 0;
      requestList.replaceChildren(...requests.map(requestRow));
    } catch (failure) {
      if (started === generation) notify(`Cannot list your links: ${failure.message}`, "error");
    }
  }

  return {
    /** The "Share" button of a file row (enabled once the file is stored). */
    shareButton(record) {
      names.set(record.id, record.name);
      const node = button("Share", () => openDialog(record));
      node.dataset.needsStored = "";
      return node;
    },
    reload,
    /** Forgets everything (signing out). */
    reset() {
      generation++;
      names.clear();
      shareList.replaceChildren();
      requestList.replaceChildren();
      if (dialog.open) dialog.close();
    },
  };
}
