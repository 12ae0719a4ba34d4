/* The segment builder (docs/segments.md, docs/web.md).
 *
 * The definition JSON is the model: the builder draws it as nested groups and conditions,
 * each edit changes the JSON in place, writes it to the form's `definition` textarea (the
 * raw JSON editor, which is what the form saves) and, debounced, asks the server for the
 * live count and sample. Errors come back with the path of their node
 * (`where.all[1].clicked.within_days`) and are shown next to that node.
 */
(function () {
  "use strict";

  var root = document.getElementById("builder");
  if (!root) return;
  var catalogue = JSON.parse(document.getElementById("segment-catalogue").textContent);
  var initialErrors = JSON.parse(document.getElementById("segment-errors-initial").textContent);
  var T = catalogue.text;
  var textarea = document.getElementById("definition");
  var jsonProblem = document.getElementById("json-problem");
  var countEl = document.getElementById("live-count");
  var sampleEl = document.getElementById("live-sample");
  var readonly = root.dataset.readonly === "1";
  var csrf = document.querySelector("meta[name=csrf-token]").content;

  var LEAVES = ["status", "followed_days", "followed_at", "inflow_route", "member_linked",
    "attribute", "tags", "clicked", "click_count", "purchased", "purchase_count", "revenue",
    "bought", "event", "delivery", "sample"];
  var COMPARE_OPS = ["gte", "gt", "eq", "lte", "lt"];
  var ATTRIBUTE_OPS = {
    number: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "is_empty"],
    date: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "is_empty"],
    text: ["eq", "ne", "in", "is_empty"],
    choice: ["eq", "ne", "in", "is_empty"]
  };

  var definition = null; // the model
  var errorSlots = []; // [{path, element}] of the nodes drawn
  var generalErrors = null;

  // --- small DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function select(options, current, onChange, attrs) {
    var node = el("select", attrs || {});
    options.forEach(function (option) {
      var item = el("option", { value: option[0], text: option[1] });
      if (String(option[0]) === String(current)) item.selected = true;
      node.appendChild(item);
    });
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function input(value, onInput, attrs) {
    var node = el("input", Object.assign({ type: "text" }, attrs || {}));
    node.value = value === null || value === undefined ? "" : value;
    node.addEventListener("input", function () { onInput(node.value); });
    return node;
  }

  function today(offsetDays) {
    var day = new Date(Date.now() + (offsetDays || 0) * 86400000);
    return day.toISOString().slice(0, 10);
  }

  function asNumber(text) {
    if (text.trim() === "") return null;
    var number = Number(text);
    return isNaN(number) ? text : number; // the server names what is wrong with it
  }

  // --- defaults for a new condition -------------------------------------------------------
  function newLeaf(kind) {
    var attr = catalogue.attributes[0];
    switch (kind) {
      case "status": return { status: "following" };
      case "followed_days": return { followed_days: { gte: 7 } };
      case "followed_at": return { followed_at: { from: today(-30) } };
      case "inflow_route":
        return { inflow_route: catalogue.routes.length ? { code: catalogue.routes[0].code } : { none: true } };
      case "member_linked": return { member_linked: true };
      case "attribute": return { attribute: attr ? defaultAttribute(attr) : { key: "", is_empty: false } };
      case "tags": return { tags: { any: catalogue.tags.slice(0, 1) } };
      case "clicked": return { clicked: { within_days: 50 } };
      case "click_count": return { click_count: { gte: 3, within_days: 90 } };
      case "purchased": return { purchased: { within_days: 30 } };
      case "purchase_count": return { purchase_count: { gte: 2, within_days: 180 } };
      case "revenue": return { revenue: { gte: 10000, within_days: 365 } };
      case "bought": return { bought: { sku: "" } };
      case "event": return { event: { name: "", within_days: 7 } };
      case "delivery":
        return { delivery: { id: catalogue.deliveries.length ? catalogue.deliveries[0].id : 0, received: true } };
      case "sample": return { sample: { percent: 10, seed: Math.floor(Math.random() * 2147483646) } };
    }
    return { all: [] };
  }

  function defaultAttribute(attr) {
    if (attr.type === "choice") return { key: attr.key, eq: attr.choices[0] || "" };
    if (attr.type === "number") return { key: attr.key, gte: 0 };
    if (attr.type === "date") return { key: attr.key, gte: today() };
    return { key: attr.key, eq: "" };
  }

  // --- the model changed -------------------------------------------------------------------
  var previewTimer = null;
  var previewSeq = 0;
  var inflight = null;

  function changed(redraw) {
    textarea.value = JSON.stringify(definition, null, 2);
    jsonProblem.hidden = true;
    if (redraw) draw();
    schedulePreview();
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    countEl.classList.add("busy");
    countEl.textContent = T.counting;
    previewTimer = setTimeout(runPreview, 400);
  }

  function runPreview() {
    var seq = ++previewSeq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    fetch(catalogue.preview_url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ definition: definition }),
      credentials: "same-origin",
      signal: inflight.signal
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (result) {
      if (seq !== previewSeq) return; // a newer definition is being counted
      countEl.classList.remove("busy");
      if (result.ok) {
        countEl.textContent = result.count_text;
        countEl.dataset.count = result.count;
        showErrors([]);
        drawSample(result.sample);
      } else {
        countEl.textContent = T.invalid;
        delete countEl.dataset.count;
        showErrors(result.errors);
        sampleEl.textContent = "";
      }
    }).catch(function (error) {
      if (error.name === "AbortError" || seq !== previewSeq) return;
      countEl.classList.remove("busy");
      countEl.textContent = T.network;
    });
  }

  function drawSample(sample) {
    sampleEl.textContent = "";
    if (!sample.length) {
      sampleEl.appendChild(el("p", { class: "muted", text: T.no_match }));
      return;
    }
    var rows = sample.map(function (friend) {
      return el("tr", {}, [
        el("td", {}, [el("a", { href: catalogue.friend_url + friend.id, text: friend.display_name || "—" })]),
        el("td", { text: friend.first_followed_at.slice(0, 10) }),
        el("td", { text: String(friend.click_count) }),
        el("td", { text: String(friend.purchase_count) })
      ]);
    });
    sampleEl.appendChild(el("h3", { text: T.sample_title }));
    sampleEl.appendChild(el("table", { class: "sample" }, [
      el("thead", {}, [el("tr", {}, [el("th", { text: T.name }), el("th", { text: T.followed }),
        el("th", { text: T.clicks }), el("th", { text: T.purchases })])]),
      el("tbody", {}, rows)
    ]));
  }

  // --- errors next to their nodes ----------------------------------------------------------
  function slotFor(path) {
    var best = null;
    errorSlots.forEach(function (slot) {
      var p = slot.path;
      if (path === p || path.indexOf(p + ".") === 0 || path.indexOf(p + "[") === 0) {
        if (!best || p.length > best.path.length) best = slot;
      }
    });
    return best;
  }

  function showErrors(errors) {
    errorSlots.forEach(function (slot) { slot.element.textContent = ""; slot.element.hidden = true; });
    generalErrors.textContent = "";
    generalErrors.hidden = true;
    errors.forEach(function (error) {
      var slot = slotFor(error.path);
      var target = slot ? slot.element : generalErrors;
      var rest = slot ? error.path.slice(slot.path.length).replace(/^\./, "") : error.path;
      var label = error.label || catalogue.errors[error.code] || "";
      target.appendChild(el("span", { class: "error", "data-error-path": error.path }, [
        label + (rest ? " (" + rest + ")" : "") + ": ",
        el("span", { class: "muted", text: error.message })
      ]));
      target.hidden = false;
    });
  }

  // --- drawing -----------------------------------------------------------------------------
  function draw() {
    errorSlots = [];
    root.textContent = "";
    var where = definition.where;
    var host = el("fieldset", { disabled: readonly });
    host.appendChild(drawCondition(where, "where", function (next) {
      definition.where = next;
      changed(true);
    }, null));
    generalErrors = el("p", { class: "errors general", hidden: true });
    root.appendChild(generalErrors);
    root.appendChild(host);
  }

  function keyOf(condition) {
    if (condition && typeof condition === "object" && !Array.isArray(condition)) {
      var keys = Object.keys(condition);
      if (keys.length === 1) return keys[0];
    }
    return null;
  }

  function drawCondition(condition, path, replace, remove) {
    var negated = keyOf(condition) === "not";
    var inner = negated ? condition.not : condition;
    var innerPath = negated ? path + ".not" : path;
    var key = keyOf(inner);
    var errors = el("div", { class: "node-errors", hidden: true });
    errorSlots.push({ path: innerPath, element: errors });
    if (negated) errorSlots.push({ path: path, element: errors });

    var notBox = el("label", { class: "not-toggle" }, [
      el("input", {
        type: "checkbox", checked: negated, "data-testid": "not-toggle",
        onchange: function () { replace(negated ? inner : { not: inner }); }
      }), T.not
    ]);
    var removeButton = remove ? el("button", {
      type: "button", class: "remove", title: T.remove, "aria-label": T.remove,
      onclick: remove
    }, ["×"]) : null;
    var setInner = function (next) { replace(negated ? { not: next } : next); };

    if (key === "all" || key === "any") {
      return drawGroup(inner, key, innerPath, setInner, notBox, removeButton, errors, negated);
    }
    var box = el("div", { class: "condition" + (negated ? " negated" : ""), "data-path": innerPath });
    var kinds = LEAVES.map(function (kind) { return [kind, T[kind]]; });
    var head = el("div", { class: "condition-head" }, [
      select(kinds.concat(LEAVES.indexOf(key) < 0 ? [[key || "", T.raw]] : []), key || "", function (kind) {
        setInner(newLeaf(kind));
      }, { "aria-label": T.choose, class: "kind", "data-testid": "condition-kind" }),
      notBox, removeButton
    ]);
    box.appendChild(head);
    var body = el("div", { class: "condition-body" });
    if (LEAVES.indexOf(key) >= 0 && EDITORS[key]) {
      EDITORS[key](inner, body, function () { changed(true); });
    } else {
      body.appendChild(el("p", { class: "muted", text: T.raw }));
      body.appendChild(el("pre", { text: JSON.stringify(inner) }));
    }
    box.appendChild(body);
    box.appendChild(errors);
    return box;
  }

  function drawGroup(group, key, path, setInner, notBox, removeButton, errors, negated) {
    var items = group[key];
    var box = el("div", { class: "group " + key + (negated ? " negated" : ""), "data-path": path });
    box.appendChild(el("div", { class: "group-head" }, [
      select([["all", T.all], ["any", T.any]], key, function (next) {
        var replaced = {};
        replaced[next] = items;
        setInner(replaced);
      }, { "data-testid": "group-kind" }),
      notBox, removeButton
    ]));
    box.appendChild(errors);
    var list = el("div", { class: "group-items" });
    if (!Array.isArray(items)) {
      list.appendChild(el("pre", { text: JSON.stringify(items) }));
    } else {
      if (!items.length) list.appendChild(el("p", { class: "muted", text: T.empty_group }));
      items.forEach(function (item, index) {
        list.appendChild(drawCondition(item, path + "." + key + "[" + index + "]", function (next) {
          items[index] = next;
          changed(true);
        }, function () {
          items.splice(index, 1);
          changed(true);
        }));
      });
    }
    box.appendChild(list);
    if (Array.isArray(items)) {
      var adder = select([["", T.add_condition]].concat(LEAVES.map(function (kind) {
        return [kind, T[kind]];
      })), "", function (kind) {
        if (!kind) return;
        items.push(newLeaf(kind));
        changed(true);
      }, { class: "add-condition", "data-testid": "add-condition", "aria-label": T.add_condition });
      box.appendChild(el("div", { class: "group-foot" }, [
        adder,
        el("button", {
          type: "button", "data-testid": "add-group",
          onclick: function () { items.push({ any: [] }); changed(true); }
        }, [T.add_group])
      ]));
    }
    return box;
  }

  // --- editors of each condition (edit `condition[key]` in place) -----------------------
  function field(label, control) {
    return el("label", { class: "field" }, [el("span", { text: label }), control]);
  }

  function numberInput(body, name, integer, attrs, optional) {
    return input(body[name], function (text) {
      var value = asNumber(text);
      if (value === null && optional) delete body[name];
      else body[name] = value;
      changed(false);
    }, Object.assign({ type: "number", step: integer ? "1" : "any", class: "num" }, attrs || {}));
  }

  function compareEditor(body, container, redraw, integer) {
    var rows = el("div", { class: "compares" });
    COMPARE_OPS.forEach(function (op) {
      if (!(op in body)) return;
      rows.appendChild(el("div", { class: "compare" }, [
        select(COMPARE_OPS.map(function (o) { return [o, T[o]]; }), op, function (next) {
          var value = body[op];
          delete body[op];
          body[next] = value;
          redraw();
        }, { class: "op" }),
        numberInput(body, op, integer, { "data-testid": "compare-value" }),
        el("button", { type: "button", class: "remove small", onclick: function () { delete body[op]; redraw(); } }, ["×"])
      ]));
    });
    var unused = COMPARE_OPS.filter(function (op) { return !(op in body); });
    if (unused.length) {
      rows.appendChild(el("button", {
        type: "button", class: "link", onclick: function () { body[unused[0]] = 0; redraw(); }
      }, [T.add_compare]));
    }
    container.appendChild(rows);
  }

  function windowField(body, container, label) {
    container.appendChild(field(label || T.window, numberInput(body, "within_days", true, { min: 1 }, true)));
  }

  function deliveryOptions(current, allowAny) {
    var options = allowAny ? [["", T.any_delivery]] : [];
    var found = false;
    catalogue.deliveries.forEach(function (d) {
      if (d.id === current) found = true;
      options.push([d.id, "#" + d.id + " " + d.name]);
    });
    if (current !== undefined && current !== null && current !== "" && !found) options.push([current, "#" + current]);
    return options;
  }

  function deliveryFilter(body, container, redraw) {
    container.appendChild(field(T.delivery_id, select(deliveryOptions(body.delivery_id, true), body.delivery_id === undefined ? "" : body.delivery_id, function (value) {
      if (value === "") delete body.delivery_id; else body.delivery_id = Number(value);
      changed(false);
    })));
    container.appendChild(field(T.link_id, numberInput(body, "link_id", true, { min: 1 }, true)));
  }

  function recencyEditor(body, container, redraw) {
    var mode = "not_within_days" in body ? "not_within_days" : "within_days";
    container.appendChild(select([["within_days", T.within_days], ["not_within_days", T.not_within_days]], mode, function (next) {
      var value = body[mode];
      delete body[mode];
      body[next] = value;
      redraw();
    }, { class: "mode" }));
    container.appendChild(field(T.days, numberInput(body, mode, true, { min: 1, "data-testid": "days" })));
  }

  function chips(values, onChange, suggestions, label) {
    var box = el("div", { class: "chip-editor" });
    var list = el("ul", { class: "chips" });
    values.forEach(function (value, index) {
      list.appendChild(el("li", { class: "chip" }, [value, el("button", {
        type: "button", "aria-label": T.remove, onclick: function () {
          values.splice(index, 1);
          onChange(values, true);
        }
      }, ["×"])]));
    });
    var listId = "s" + Math.random().toString(36).slice(2);
    var entry = el("input", { type: "text", list: suggestions ? listId : null, "aria-label": label, class: "chip-input" });
    var add = function () {
      var text = entry.value.trim();
      if (text && values.indexOf(text) < 0) values.push(text);
      entry.value = "";
      onChange(values, true);
    };
    entry.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); add(); }
    });
    box.appendChild(list);
    box.appendChild(entry);
    if (suggestions) {
      box.appendChild(el("datalist", { id: listId }, suggestions.map(function (s) { return el("option", { value: s }); })));
    }
    box.appendChild(el("button", { type: "button", onclick: add }, [T.add]));
    return box;
  }

  function boolChoice(body, name, container, label) {
    var current = name in body ? String(body[name]) : "";
    container.appendChild(field(label, select([["", T.either], ["true", T.yes], ["false", T.no]], current, function (value) {
      if (value === "") delete body[name]; else body[name] = value === "true";
      changed(false);
    })));
  }

  function attributeValue(attr, text) {
    if (attr && attr.type === "number") return asNumber(text);
    return text;
  }

  var EDITORS = {
    status: function (condition, container) {
      var values = Array.isArray(condition.status) ? condition.status.slice() : [condition.status];
      ["following", "blocked", "unknown"].forEach(function (status) {
        container.appendChild(el("label", { class: "check" }, [el("input", {
          type: "checkbox", checked: values.indexOf(status) >= 0, onchange: function (event) {
            if (event.target.checked) values.push(status);
            else values.splice(values.indexOf(status), 1);
            condition.status = values.length === 1 ? values[0] : values.slice();
            changed(false);
          }
        }), T[status]]));
      });
    },
    followed_days: function (condition, container, redraw) {
      compareEditor(condition.followed_days, container, redraw, true);
      container.appendChild(el("span", { class: "muted", text: T.days }));
    },
    followed_at: function (condition, container) {
      var body = condition.followed_at;
      ["from", "to"].forEach(function (name) {
        var long = typeof body[name] === "string" && body[name].length > 10;
        container.appendChild(field(T[name], input(body[name], function (text) {
          if (text === "") delete body[name]; else body[name] = text;
          changed(false);
        }, { type: long ? "text" : "date" })));
      });
    },
    inflow_route: function (condition, container, redraw) {
      var body = condition.inflow_route;
      var mode = body.none ? "none" : body.codes ? "many" : "one";
      container.appendChild(select([["one", T.route_one], ["many", T.route_many], ["none", T.route_none]], mode, function (next) {
        var first = catalogue.routes.length ? catalogue.routes[0].code : "";
        condition.inflow_route = next === "none" ? { none: true } : next === "many" ? { codes: first ? [first] : [] } : { code: first };
        redraw();
      }, { class: "mode" }));
      if (mode === "one") {
        var current = body.code;
        if (body.id !== undefined) {
          catalogue.routes.forEach(function (r) { if (r.id === body.id) current = r.code; });
        }
        var options = catalogue.routes.map(function (r) { return [r.code, r.name + " (" + r.code + ")"]; });
        if (current !== undefined && !catalogue.routes.some(function (r) { return r.code === current; })) {
          options.push([current, current]);
        }
        container.appendChild(select(options, current, function (code) {
          condition.inflow_route = { code: code };
          changed(false);
        }, { "aria-label": T.inflow_route }));
      } else if (mode === "many") {
        container.appendChild(chips(body.codes.slice(), function (values, structural) {
          condition.inflow_route = { codes: values };
          changed(structural);
        }, catalogue.routes.map(function (r) { return r.code; }), T.route_many));
      }
    },
    member_linked: function (condition, container) {
      container.appendChild(select([["true", T.linked], ["false", T.not_linked]], String(condition.member_linked), function (value) {
        condition.member_linked = value === "true";
        changed(false);
      }));
    },
    attribute: function (condition, container, redraw) {
      var body = condition.attribute;
      var attr = null;
      catalogue.attributes.forEach(function (a) { if (a.key === body.key) attr = a; });
      var keys = catalogue.attributes.map(function (a) { return [a.key, a.label + " (" + a.key + ")"]; });
      if (!attr) keys.push([body.key || "", body.key || "—"]);
      container.appendChild(select(keys, body.key || "", function (key) {
        var next = null;
        catalogue.attributes.forEach(function (a) { if (a.key === key) next = a; });
        condition.attribute = next ? defaultAttribute(next) : { key: key, is_empty: false };
        redraw();
      }, { class: "attr-key", "aria-label": T.attribute }));
      var ops = ATTRIBUTE_OPS[attr ? attr.type : "text"];
      var present = ops.filter(function (op) { return op in body; });
      present.forEach(function (op) {
        var row = el("div", { class: "compare" });
        row.appendChild(select(ops.map(function (o) { return [o, T[o]]; }), op, function (next) {
          delete body[op];
          body[next] = next === "is_empty" ? true : next === "between" ? [null, null] : next === "in" ? [] : (attr && attr.type === "choice" ? attr.choices[0] : null);
          if (next === "is_empty") ops.forEach(function (o) { if (o !== "is_empty") delete body[o]; });
          redraw();
        }, { class: "op" }));
        var type = attr ? attr.type : "text";
        var inputType = type === "number" ? "number" : type === "date" ? "date" : "text";
        if (op === "is_empty") {
          row.appendChild(select([["true", T.is_empty], ["false", T.not_empty]], String(body.is_empty), function (value) {
            body.is_empty = value === "true";
            changed(false);
          }));
        } else if (op === "between") {
          [0, 1].forEach(function (index) {
            row.appendChild(input(body.between[index], function (text) {
              body.between[index] = attributeValue(attr, text);
              changed(false);
            }, { type: inputType, step: "any" }));
          });
        } else if (op === "in") {
          if (type === "choice") {
            attr.choices.forEach(function (choice) {
              row.appendChild(el("label", { class: "check" }, [el("input", {
                type: "checkbox", checked: body.in.indexOf(choice) >= 0, onchange: function (event) {
                  if (event.target.checked) body.in.push(choice);
                  else body.in.splice(body.in.indexOf(choice), 1);
                  changed(false);
                }
              }), choice]));
            });
          } else {
            row.appendChild(chips(body.in.map(String), function (values, structural) {
              body.in = values.map(function (v) { return attributeValue(attr, v); });
              changed(structural);
            }, null, T.in));
          }
        } else if (type === "choice") {
          row.appendChild(select(attr.choices.map(function (c) { return [c, c]; }), body[op], function (value) {
            body[op] = value;
            changed(false);
          }));
        } else {
          row.appendChild(input(body[op], function (text) {
            body[op] = attributeValue(attr, text);
            changed(false);
          }, { type: inputType, step: "any" }));
        }
        if (present.length > 1) {
          row.appendChild(el("button", { type: "button", class: "remove small", onclick: function () { delete body[op]; redraw(); } }, ["×"]));
        }
        container.appendChild(row);
      });
      var unused = ops.filter(function (op) { return !(op in body) && op !== "is_empty"; });
      if (!("is_empty" in body) && unused.length) {
        container.appendChild(el("button", {
          type: "button", class: "link", onclick: function () {
            body[unused[0]] = attr && attr.type === "choice" ? attr.choices[0] : null;
            redraw();
          }
        }, [T.add_compare]));
      }
    },
    tags: function (condition, container, redraw) {
      var body = condition.tags;
      ["any", "all", "none"].forEach(function (name) {
        container.appendChild(field(T["tags_" + name], chips((body[name] || []).slice(), function (values, structural) {
          if (values.length) body[name] = values; else delete body[name];
          changed(structural);
        }, catalogue.tags, T["tags_" + name])));
      });
    },
    clicked: function (condition, container, redraw) {
      recencyEditor(condition.clicked, container, redraw);
      deliveryFilter(condition.clicked, container, redraw);
    },
    click_count: function (condition, container, redraw) {
      compareEditor(condition.click_count, container, redraw, true);
      windowField(condition.click_count, container);
      deliveryFilter(condition.click_count, container, redraw);
    },
    purchased: function (condition, container, redraw) {
      recencyEditor(condition.purchased, container, redraw);
    },
    purchase_count: function (condition, container, redraw) {
      compareEditor(condition.purchase_count, container, redraw, true);
      windowField(condition.purchase_count, container);
    },
    revenue: function (condition, container, redraw) {
      compareEditor(condition.revenue, container, redraw, false);
      windowField(condition.revenue, container);
    },
    bought: function (condition, container, redraw) {
      var body = condition.bought;
      var skus = body.skus ? body.skus.slice() : body.sku ? [body.sku] : [];
      container.appendChild(field(T.skus, chips(skus, function (values, structural) {
        delete body.sku;
        delete body.skus;
        if (values.length > 1) body.skus = values; else body.sku = values[0] || "";
        changed(structural);
      }, null, T.skus)));
      windowField(body, container);
    },
    event: function (condition, container, redraw) {
      var body = condition.event;
      container.appendChild(field(T.event_name, input(body.name, function (text) {
        body.name = text;
        changed(false);
      }, { maxlength: 64, "data-testid": "event-name" })));
      var unit = "within_hours" in body ? "within_hours" : "within_days";
      container.appendChild(numberInput(body, unit, true, { min: 1 }));
      container.appendChild(select([["within_days", T.days], ["within_hours", T.hours]], unit, function (next) {
        var value = body[unit];
        delete body[unit];
        body[next] = value;
        redraw();
      }, { class: "unit" }));
      container.appendChild(field(T.min_count, numberInput(body, "min_count", true, { min: 1 }, true)));
      container.appendChild(el("label", { class: "check" }, [el("input", {
        type: "checkbox", checked: !!body.no_purchase_since, onchange: function (event) {
          if (event.target.checked) body.no_purchase_since = true; else delete body.no_purchase_since;
          changed(false);
        }
      }), T.no_purchase_since]));
    },
    delivery: function (condition, container) {
      var body = condition.delivery;
      if (catalogue.deliveries.length) {
        container.appendChild(field(T.delivery_id, select(deliveryOptions(body.id, false), body.id, function (value) {
          body.id = Number(value);
          changed(false);
        })));
      } else {
        container.appendChild(field(T.delivery_id, numberInput(body, "id", true, { min: 1 })));
      }
      boolChoice(body, "received", container, T.received);
      boolChoice(body, "clicked", container, T.clicked_flag);
    },
    sample: function (condition, container) {
      var body = condition.sample;
      container.appendChild(field(T.percent, numberInput(body, "percent", false, { min: 0.01, max: 100, step: "0.01" })));
      container.appendChild(field(T.seed, numberInput(body, "seed", true, { min: 0 })));
    }
  };

  // --- the raw JSON editor -----------------------------------------------------------------
  var jsonTimer = null;

  function takeJson(show) {
    var parsed;
    try {
      parsed = JSON.parse(textarea.value);
    } catch (error) {
      if (show) {
        jsonProblem.textContent = T.json_invalid + ": " + error.message;
        jsonProblem.hidden = false;
      }
      return false;
    }
    jsonProblem.hidden = true;
    definition = normalise(parsed);
    draw();
    schedulePreview();
    return true;
  }

  function normalise(parsed) {
    // the builder draws a group at the top; a single condition is the same as all of one
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && parsed.where !== undefined) {
      var key = keyOf(parsed.where);
      if (key !== "all" && key !== "any") parsed.where = { all: [parsed.where] };
    }
    return parsed;
  }

  textarea.addEventListener("input", function () {
    clearTimeout(jsonTimer);
    jsonTimer = setTimeout(function () { takeJson(true); }, 600);
  });
  document.getElementById("apply-json").addEventListener("click", function () { takeJson(true); });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // --- start -------------------------------------------------------------------------------
  try {
    definition = normalise(JSON.parse(textarea.value));
  } catch (error) {
    definition = null;
  }
  if (!definition || typeof definition !== "object" || definition.where === undefined) {
    root.appendChild(el("p", { class: "muted", text: T.json_invalid }));
    return;
  }
  draw();
  if (initialErrors.length) showErrors(initialErrors);
  runPreview();
})();
