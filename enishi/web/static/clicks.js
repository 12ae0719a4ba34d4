// Click analysis: choosing a bucket range for a new segment by clicking table rows, and
// highlighting the rows of the range chosen in the selects.
(function () {
  function setup(form) {
    var kind = form.dataset.rangeForm;
    var table = document.querySelector('[data-range-table="' + kind + '"]');
    if (!table) return;
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var from = form.querySelector("select[name=range_from]");
    var to = form.querySelector("select[name=range_to]");
    var anchor = null;

    function indexOf(select, attribute) {
      for (var i = 0; i < rows.length; i++) if (rows[i].dataset[attribute] === select.value) return i;
      return -1;
    }
    function highlight() {
      var start = indexOf(from, "from"), end = indexOf(to, "to");
      rows.forEach(function (row, i) { row.classList.toggle("in-range", i >= start && i <= end); });
    }
    function choose(start, end) {
      from.value = rows[Math.min(start, end)].dataset.from;
      to.value = rows[Math.max(start, end)].dataset.to;
      highlight();
    }
    rows.forEach(function (row, i) {
      row.style.cursor = "pointer";
      row.addEventListener("click", function () {
        if (anchor === null) { anchor = i; choose(i, i); }
        else { choose(anchor, i); anchor = null; }
      });
    });
    from.addEventListener("change", highlight);
    to.addEventListener("change", highlight);
    highlight();
  }
  function init() { document.querySelectorAll("[data-range-form]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
