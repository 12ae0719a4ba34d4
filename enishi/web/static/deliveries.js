// 配信 pages: the compose form's editors (show / hide / add / remove, variables, JSON checks),
// the LINE-like preview of each message (updated as you type), and the detail page's live
// progress. No inline scripts (CSP): the page's data comes from <script type="application/json">.
// Everything user-written is put on the page with textContent, never as HTML.
(function () {
  "use strict";

  var config = JSON.parse((document.getElementById("preview-config") || {}).textContent || "{}");
  var words = config.text || {};
  var sample = config.sample || {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // --- variables: what a friend would see, with the sample values --------------------------
  function fill(text) {
    return String(text).replace(/\{\{(.*?)\}\}/g, function (_all, inner) {
      var bar = inner.indexOf("|");
      var name = (bar < 0 ? inner : inner.slice(0, bar)).trim();
      var fallback = bar < 0 ? "" : inner.slice(bar + 1);
      if (name === "display_name") return sample.display_name || fallback;
      if (name === "member_id") return sample.member_id || fallback;
      if (name.indexOf("attr.") === 0) return fallback || "〈" + name.slice(5) + "〉";
      return "{{" + inner + "}}";
    });
  }

  // --- the preview: LINE-like bubbles ------------------------------------------------------
  function placeholder(kind, detail, ratio) {
    var box = el("div", "pv-media");
    if (ratio) box.style.aspectRatio = ratio;
    box.appendChild(el("span", "pv-media-kind", kind));
    if (detail) box.appendChild(el("small", "pv-media-detail", detail));
    return box;
  }

  function fileName(url) {
    var text = String(url || "");
    var parts = text.split("?")[0].split("/");
    return parts[parts.length - 1] || text;
  }

  function actionButton(action, className) {
    var label = action && (action.label || action.text || action.type) || "";
    var button = el("div", className || "pv-action", fill(label));
    if (action && action.uri) button.title = action.uri;
    return button;
  }

  function templateCard(column, template) {
    var card = el("div", "pv-card");
    if (column.thumbnailImageUrl) card.appendChild(placeholder(words.image, fileName(column.thumbnailImageUrl), template.imageAspectRatio === "square" ? "1 / 1" : "1.51 / 1"));
    var body = el("div", "pv-card-body");
    if (column.title) body.appendChild(el("div", "pv-card-title", fill(column.title)));
    if (column.text) body.appendChild(el("div", "pv-card-text", fill(column.text)));
    card.appendChild(body);
    (column.actions || []).forEach(function (action) { card.appendChild(actionButton(action)); });
    return card;
  }

  function template(message) {
    var t = message.template || {};
    if (t.type === "confirm") {
      var card = el("div", "pv-card pv-confirm");
      card.appendChild(el("div", "pv-card-text", fill(t.text || "")));
      var row = el("div", "pv-confirm-actions");
      (t.actions || []).forEach(function (action) { row.appendChild(actionButton(action)); });
      card.appendChild(row);
      return card;
    }
    if (t.type === "carousel" || t.type === "image_carousel") {
      var strip = el("div", "pv-carousel");
      (t.columns || []).forEach(function (column) {
        if (t.type === "image_carousel") {
          var tile = el("div", "pv-card pv-image-tile");
          tile.appendChild(placeholder(words.image, fileName(column.imageUrl), "1 / 1"));
          if (column.action) tile.appendChild(actionButton(column.action, "pv-image-label"));
          strip.appendChild(tile);
        } else {
          strip.appendChild(templateCard(column, t));
        }
      });
      return strip;
    }
    return templateCard(t, t);
  }

  var FLEX_SIZES = { xxs: 10, xs: 11, sm: 13, md: 14, lg: 16, xl: 19, xxl: 22, "3xl": 26, "4xl": 30, "5xl": 36 };
  var FLEX_SPACING = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };

  function flexComponent(c, parentLayout) {
    if (!c || typeof c !== "object") return el("div");
    var node;
    if (c.type === "box") {
      node = el("div", "fx-box fx-" + (c.layout || "vertical"));
      var gap = FLEX_SPACING[c.spacing];
      if (gap !== undefined) node.style.gap = gap + "px";
      if (c.backgroundColor) node.style.backgroundColor = c.backgroundColor;
      if (c.paddingAll) node.style.padding = FLEX_SPACING[c.paddingAll] !== undefined ? FLEX_SPACING[c.paddingAll] + "px" : c.paddingAll;
      if (c.cornerRadius) node.style.borderRadius = FLEX_SPACING[c.cornerRadius] !== undefined ? FLEX_SPACING[c.cornerRadius] + "px" : c.cornerRadius;
      (c.contents || []).forEach(function (child) { node.appendChild(flexComponent(child, c.layout)); });
    } else if (c.type === "text") {
      var text = c.contents && c.contents.length ? c.contents.map(function (span) { return span.text || ""; }).join("") : c.text;
      node = el("div", "fx-text", fill(text || ""));
      node.style.fontSize = (FLEX_SIZES[c.size] || 14) + "px";
      if (c.weight === "bold") node.style.fontWeight = "700";
      if (c.color) node.style.color = c.color;
      if (c.align) node.style.textAlign = c.align === "end" ? "right" : c.align === "start" ? "left" : "center";
      if (!c.wrap) node.classList.add("fx-nowrap");
    } else if (c.type === "button") {
      node = actionButton(c.action, "fx-button fx-button-" + (c.style || "link"));
      if (c.color) node.style[c.style === "link" || !c.style ? "color" : "backgroundColor"] = c.color;
    } else if (c.type === "image") {
      var ratio = String(c.aspectRatio || "1:1").replace(":", " / ");
      node = placeholder(words.image, fileName(c.url), ratio);
      node.classList.add("fx-image");
    } else if (c.type === "icon") {
      node = el("span", "fx-icon", "●");
    } else if (c.type === "separator") {
      node = el("div", "fx-separator");
      if (c.color) node.style.borderColor = c.color;
    } else if (c.type === "spacer" || c.type === "filler") {
      node = el("div", "fx-spacer");
    } else {
      node = el("div", "fx-text", c.type || "");
    }
    if (c.flex !== undefined && parentLayout !== "vertical") node.style.flex = String(c.flex);
    if (c.margin && FLEX_SPACING[c.margin] !== undefined) node.style.marginTop = FLEX_SPACING[c.margin] + "px";
    return node;
  }

  function flexBubble(bubble) {
    var card = el("div", "pv-card fx-bubble fx-size-" + (bubble.size || "mega"));
    ["header", "hero", "body", "footer"].forEach(function (part) {
      if (!bubble[part]) return;
      var section = el("div", "fx-" + part);
      var style = (bubble.styles || {})[part] || {};
      if (style.backgroundColor) section.style.backgroundColor = style.backgroundColor;
      section.appendChild(flexComponent(bubble[part], "vertical"));
      card.appendChild(section);
    });
    return card;
  }

  function flex(message) {
    var contents = message.contents || {};
    if (contents.type === "carousel") {
      var strip = el("div", "pv-carousel");
      (contents.contents || []).forEach(function (bubble) { strip.appendChild(flexBubble(bubble)); });
      return strip;
    }
    return flexBubble(contents);
  }

  function imagemap(message) {
    var size = message.baseSize || { width: 1040, height: 1040 };
    var box = placeholder(words.imagemap, fileName(message.baseUrl), size.width + " / " + size.height);
    box.classList.add("pv-imagemap");
    (message.actions || []).forEach(function (action) {
      var area = action.area || {};
      var zone = el("span", "pv-area", action.label || action.text || fileName(action.linkUri));
      zone.style.left = (100 * (area.x || 0) / size.width) + "%";
      zone.style.top = (100 * (area.y || 0) / size.height) + "%";
      zone.style.width = (100 * (area.width || 0) / size.width) + "%";
      zone.style.height = (100 * (area.height || 0) / size.height) + "%";
      box.appendChild(zone);
    });
    return box;
  }

  function bubble(message) {
    if (message === null) return el("div", "pv-bubble pv-invalid", words.invalid);
    switch (message.type) {
      case "text":
      case "textV2":
        return el("div", "pv-bubble", fill(message.text || ""));
      case "image":
        return placeholder(words.image, fileName(message.previewImageUrl || message.originalContentUrl), "4 / 3");
      case "video":
        return placeholder(words.video, fileName(message.originalContentUrl), "16 / 9");
      case "audio":
        return el("div", "pv-bubble", "▶ " + words.audio);
      case "location":
        var location = el("div", "pv-card");
        location.appendChild(placeholder(words.location, "", "2 / 1"));
        var info = el("div", "pv-card-body");
        info.appendChild(el("div", "pv-card-title", fill(message.title || "")));
        info.appendChild(el("div", "pv-card-text", fill(message.address || "")));
        location.appendChild(info);
        return location;
      case "sticker":
        var sticker = el("div", "pv-sticker");
        sticker.appendChild(el("span", "pv-sticker-face", "☺"));
        sticker.appendChild(el("small", "", words.sticker + " " + (message.packageId || "") + "/" + (message.stickerId || "")));
        return sticker;
      case "template":
        return template(message);
      case "flex":
        return flex(message);
      case "imagemap":
        return imagemap(message);
      default:
        return el("div", "pv-bubble pv-invalid", words.unknown);
    }
  }

  function drawChat(container, messages) {
    container.textContent = "";
    if (!messages.length) {
      container.appendChild(el("p", "pv-empty", words.empty));
      return;
    }
    messages.forEach(function (message, index) {
      var row = el("div", "pv-row");
      var icon = el("div", "pv-icon", (config.accountName || "?").slice(0, 1));
      if (index > 0) icon.classList.add("pv-icon-hidden");
      row.appendChild(icon);
      var column = el("div", "pv-column");
      if (index === 0) column.appendChild(el("div", "pv-name", config.accountName || ""));
      var line = el("div", "pv-line");
      var content = bubble(message);
      content.dataset.previewType = message ? message.type || "" : "invalid";
      line.appendChild(content);
      if (index === messages.length - 1) line.appendChild(el("span", "pv-time", words.now));
      column.appendChild(line);
      row.appendChild(column);
      container.appendChild(row);
    });
    var last = messages[messages.length - 1];
    var items = last && last.quickReply && last.quickReply.items;
    if (items && items.length) {
      var chips = el("div", "pv-quick");
      items.forEach(function (item) { chips.appendChild(el("span", "pv-chip", fill((item.action || {}).label || ""))); });
      container.appendChild(chips);
    }
  }

  function armSwitcher(holder, names, selected, onSelect) {
    holder.textContent = "";
    if (names.length < 2) return;
    names.forEach(function (name, index) {
      var button = el("button", index === selected ? "selected" : "", (words.arm || "") + " " + name);
      button.type = "button";
      button.addEventListener("click", function () { onSelect(index); });
      holder.appendChild(button);
    });
  }

  // --- compose form ------------------------------------------------------------------------
  function composeForm(form) {
    var chat = document.querySelector("[data-role=preview]");
    var previewArms = document.querySelector("[data-role=preview-arms]");
    var armCount = form.querySelector("[data-role=arm-count]");
    var current = 0;
    var lastField = null;

    function field(name) { return form.elements.namedItem(name); }
    function value(name) { var f = field(name); return f ? f.value : ""; }

    function quickReply(prefix) {
      var items = value(prefix + "_quick").split("\n").map(function (line) { return line.trim(); })
        .filter(Boolean).map(function (line) {
          var bar = line.indexOf("|");
          return { type: "action", action: { type: "message", label: bar < 0 ? line : line.slice(0, bar).trim() } };
        });
      return items.length ? { items: items } : null;
    }

    function slotMessage(slot) {
      var prefix = slot.dataset.prefix;
      var kind = value(prefix + "_type");
      var message;
      if (kind === "text") message = { type: "text", text: value(prefix + "_text") };
      else if (kind === "image") message = { type: "image", originalContentUrl: value(prefix + "_original"), previewImageUrl: value(prefix + "_preview") };
      else {
        try { message = JSON.parse(value(prefix + "_json")); } catch (e) { message = null; }
        if (message !== null && typeof message !== "object") message = null;
      }
      var quick = quickReply(prefix);
      if (message && quick) message = Object.assign({}, message, { quickReply: quick });
      return message;
    }

    function armMessages(index) {
      var arm = form.querySelector('[data-arm="' + index + '"]');
      return Array.prototype.filter.call(arm.querySelectorAll(".message-slot"), function (slot) {
        return !slot.hidden && value(slot.dataset.prefix + "_type");
      }).map(slotMessage).filter(function (message) {
        // nothing typed yet: no bubble (the empty chat says what will appear)
        return !message || (message.type !== "text" || message.text) && (message.type !== "image" || message.originalContentUrl);
      });
    }

    function armNames() {
      var names = [];
      for (var i = 0; i < Number(armCount.value); i++) names.push(value("arm" + i + "_name") || "ABCD"[i]);
      return names;
    }

    function preview() {
      var names = armNames();
      if (current >= names.length) current = 0;
      armSwitcher(previewArms, names, current, function (index) { showArm(index); });
      drawChat(chat, armMessages(current));
    }

    function showArm(index) {
      current = index;
      form.querySelectorAll("[data-arm]").forEach(function (arm) { arm.hidden = Number(arm.dataset.arm) !== index; });
      form.querySelectorAll("[data-arm-tab]").forEach(function (tab) {
        var i = Number(tab.dataset.armTab);
        tab.hidden = i >= Number(armCount.value);
        tab.setAttribute("aria-selected", String(i === index));
        tab.textContent = value("arm" + i + "_name") || "ABCD"[i];
      });
      form.querySelector("[data-role=arm-tabs]").hidden = Number(armCount.value) < 2;
      preview();
    }

    function editors(slot) {
      var kind = value(slot.dataset.prefix + "_type");
      slot.querySelectorAll("[data-editor]").forEach(function (editor) {
        var wanted = editor.dataset.editor;
        editor.hidden = !(kind === wanted || (wanted === "json" && kind && kind !== "text" && kind !== "image"));
      });
      slot.querySelector("details.quick").hidden = !kind;
      checkJson(slot);
      count(slot);
    }

    function checkJson(slot) {
      var area = field(slot.dataset.prefix + "_json");
      var note = slot.querySelector("[data-json-error]");
      var kind = value(slot.dataset.prefix + "_type");
      if (!area || !note) return;
      note.hidden = true;
      if (!kind || kind === "text" || kind === "image" || !area.value.trim()) return;
      try {
        var parsed = JSON.parse(area.value);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("{…}");
        if (kind !== "other" && parsed.type !== kind) throw new Error('"type": "' + kind + '"');
      } catch (error) {
        note.textContent = words.invalid + ": " + error.message;
        note.hidden = false;
      }
    }

    function count(slot) {
      var area = field(slot.dataset.prefix + "_text");
      var counter = slot.querySelector("[data-counter-for]");
      if (area && counter) counter.textContent = area.value.length + " / 5000";
    }

    function showWhen() {
      form.querySelectorAll("[data-show-when]").forEach(function (block) {
        var rule = block.dataset.showWhen.split("=");
        var checked = form.querySelector('input[name="' + rule[0] + '"]:checked');
        block.hidden = !checked || rule[1].split(",").indexOf(checked.value) < 0;
      });
    }

    form.addEventListener("input", function (event) {
      var slot = event.target.closest(".message-slot");
      if (slot) { checkJson(slot); count(slot); }
      preview();
    });
    form.addEventListener("change", function (event) {
      var target = event.target;
      var slot = target.closest(".message-slot");
      if (target.dataset.role === "type" && slot) {
        var area = field(slot.dataset.prefix + "_json");
        var kind = target.value;
        if (area && !area.value.trim() && config.samples && config.samples[kind]) area.value = JSON.stringify(config.samples[kind], null, 2);
        editors(slot);
      }
      if (target === armCount) showArm(Math.min(current, Number(armCount.value) - 1));
      showWhen();
      preview();
    });
    form.addEventListener("focusin", function (event) {
      if (event.target.matches("[data-variables]")) lastField = event.target;
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button[type=button]");
      if (!button) return;
      var arm = button.closest("[data-arm]");
      if (button.dataset.armTab !== undefined) showArm(Number(button.dataset.armTab));
      else if (button.dataset.action === "add-message") {
        var hidden = Array.prototype.filter.call(arm.querySelectorAll(".message-slot"), function (slot) { return slot.hidden || !value(slot.dataset.prefix + "_type"); });
        if (hidden.length) {
          var slot = hidden[0];
          slot.hidden = false;
          var select = field(slot.dataset.prefix + "_type");
          if (!select.value) select.value = "text";
          editors(slot);
          var text = field(slot.dataset.prefix + "_text");
          if (text) text.focus();
        }
      } else if (button.dataset.action === "remove-message") {
        var removed = button.closest(".message-slot");
        field(removed.dataset.prefix + "_type").value = "";
        removed.hidden = true;
      } else if (button.dataset.action === "sample-json") {
        var owner = button.closest(".message-slot");
        var kind = value(owner.dataset.prefix + "_type");
        var sampleJson = config.samples && config.samples[kind];
        if (sampleJson) field(owner.dataset.prefix + "_json").value = JSON.stringify(sampleJson, null, 2);
        checkJson(owner);
      } else if (button.dataset.variable) {
        insertVariable(button.dataset.variable);
      }
      preview();
    });

    function insertVariable(name) {
      var fallback = (form.querySelector("[data-role=variable-default]") || {}).value || "";
      var token = "{{" + name + (fallback ? "|" + fallback : "") + "}}";
      var target = lastField || form.querySelector('[data-arm="' + current + '"] textarea[data-variables]');
      if (!target) return;
      var focused = target === lastField && typeof target.selectionStart === "number";
      var start = focused ? target.selectionStart : target.value.length;
      var end = focused ? target.selectionEnd : start;
      target.value = target.value.slice(0, start) + token + target.value.slice(end);
      target.focus();
      target.selectionStart = target.selectionEnd = start + token.length;
    }

    form.querySelectorAll(".message-slot").forEach(function (slot) {
      slot.hidden = !value(slot.dataset.prefix + "_type");
      editors(slot);
    });
    showWhen();
    var firstError = form.querySelector(".error[data-error]");
    var armWithError = firstError && firstError.closest("[data-arm]");
    showArm(armWithError ? Number(armWithError.dataset.arm) : 0);
  }

  // --- detail page -------------------------------------------------------------------------
  function detailPreview(arms) {
    var chat = document.querySelector("[data-role=preview]");
    var holder = document.querySelector("[data-role=preview-arms]");
    var names = arms.map(function (arm) { return arm.name; });
    function show(index) {
      armSwitcher(holder, names, index, show);
      drawChat(chat, arms[index].messages || []);
    }
    if (arms.length) show(0);
  }

  function pollProgress(card) {
    var url = card.dataset.progressUrl;
    var shownStatus = card.querySelector("[data-status]");
    function update(data) {
      var r = data.recipients || {};
      Object.keys(r).forEach(function (key) {
        var cell = card.querySelector('[data-count="' + key + '"]');
        if (cell) cell.textContent = Number(r[key]).toLocaleString();
        var bar = card.querySelector('[data-bar="' + key + '"]');
        if (bar) bar.style.width = (100 * r[key] / (r.targeted || 1)).toFixed(1) + "%";
      });
      if (shownStatus && data.status !== shownStatus.dataset.status) {
        window.location.reload();  // a new state: new controls and the report
        return false;
      }
      return true;
    }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (!data || update(data)) window.setTimeout(tick, 2000); })
        .catch(function () { window.setTimeout(tick, 5000); });
    }
    window.setTimeout(tick, 1000);
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  var compose = document.getElementById("compose");
  if (compose) composeForm(compose);
  else if (config.arms) detailPreview(config.arms);
  var progress = document.querySelector("[data-progress-url]");
  if (progress) pollProgress(progress);
})();
