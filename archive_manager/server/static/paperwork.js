/* The paperwork form: amounts in Chinese capitals (大写) as you type, the
   same conversion the archive prints (archive_manager/generation/values.py:
   money_upper and _integer_upper, by the rules of 《支付结算办法》, over the
   amount rounded half-up to cents);
   rows added to and removed from a list's table; the contract picker limited
   to the chosen client's contracts. Without script the form still posts. */
(function () {
  "use strict";

  var DIGITS = "零壹贰叁肆伍陆柒捌玖";
  var PLACES = ["", "拾", "佰", "仟"];  // within a group of four digits
  var GROUPS = ["", "万", "亿"];  // the groups: amounts stay below 万亿
  var MAX_CENTS = BigInt("99999999999999");  // 999999999999.99, as values.MAX_AMOUNT
  var WIDE = /[０-９．，＋]/g;

  function integerUpper(digits) {  // values._integer_upper, exactly: one 零 per run of zeros
    digits = digits.replace(/^0+(?=\d)/, "");
    if (digits === "0") { return DIGITS[0]; }
    var n = digits.length, out = "", zero = false;
    for (var i = 0; i < n; i++) {
      var d = digits.charCodeAt(i) - 48, place = n - i - 1;
      if (d) {
        if (zero) { out += DIGITS[0]; }
        out += DIGITS[d] + PLACES[place % 4];
        zero = false;
      } else {
        zero = true;
      }
      if (place % 4 === 0 && place && /[1-9]/.test(digits.slice(Math.max(0, i - 3), i + 1))) {
        out += GROUPS[place / 4];  // 万/亿 marks the place: its own trailing zeros need no 零
        zero = false;
      }
    }
    return out;
  }

  /* The amount ``text`` as money() reads it (commas and spaces dropped,
     rounded half-up to cents), in capitals; null when it is not an amount,
     "range" when it is out of range. */
  function upper(text) {
    text = String(text).replace(WIDE, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
    }).replace(/,/g, "").trim();
    var m = /^\+?(\d*)(?:\.(\d*))?$/.exec(text);
    if (!m || (m[1] === "" && (m[2] || "") === "")) { return /^-\d/.test(text) ? "range" : null; }
    var whole = m[1] || "0", frac = (m[2] || "") + "000";
    var cents = BigInt(whole) * BigInt(100) + BigInt(frac.slice(0, 2));
    if (frac.charCodeAt(2) >= 53) { cents += BigInt(1); }  // the third decimal 5 or more: half-up
    if (cents > MAX_CENTS) { return "range"; }
    var yuan = integerUpper((cents / BigInt(100)).toString());
    var rest = Number(cents % BigInt(100)), jiao = Math.floor(rest / 10), fen = rest % 10;
    if (jiao) {
      if (fen) { return (yuan === "零" ? "" : yuan + "元") + DIGITS[jiao] + "角" + DIGITS[fen] + "分"; }
      return (yuan === "零" ? "" : yuan + "元") + DIGITS[jiao] + "角";
    }
    if (fen) { return yuan === "零" ? DIGITS[fen] + "分" : yuan + "元零" + DIGITS[fen] + "分"; }
    return yuan + "元整";
  }
  window.paperworkUpper = upper;

  function showUpper(input) {
    var out = document.querySelector('output[data-upper-of="' + input.name + '"]');
    if (!out) { return; }
    var text = input.value.trim(), said = text ? upper(text) : "";
    out.classList.toggle("invalid", said === null || said === "range");
    out.textContent = said === null ? (document.documentElement.lang === "en" ? "not an amount" : "金额格式不对")
      : said === "range" ? (document.documentElement.lang === "en" ? "out of range" : "超出范围") : said;
  }

  function renumber(table) {
    var name = table.closest("[data-list]").getAttribute("data-list");
    var rows = table.querySelectorAll("tbody tr[data-row]");
    rows.forEach(function (row, i) {
      row.querySelector("td.n").textContent = String(i + 1);
      row.querySelectorAll("input[data-field]").forEach(function (input) {
        input.name = "l:" + name + ":" + i + ":" + input.getAttribute("data-field");
      });
    });
  }

  function setUpList(box) {
    var table = box.querySelector("table"), add = box.querySelector("button.add-row");
    add.hidden = false;
    box.querySelectorAll("button.remove-row").forEach(function (b) { b.hidden = false; });
    add.addEventListener("click", function () {
      var rows = table.querySelectorAll("tbody tr[data-row]");
      var row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; input.classList.remove("invalid"); });
      table.querySelector("tbody").appendChild(row);
      renumber(table);
      row.querySelector("input").focus();
    });
    table.addEventListener("click", function (event) {
      var button = event.target.closest("button.remove-row");
      if (!button) { return; }
      var rows = table.querySelectorAll("tbody tr[data-row]"), row = button.closest("tr");
      if (rows.length > 1) { row.remove(); } else { row.querySelectorAll("input").forEach(function (i) { i.value = ""; }); }
      renumber(table);
    });
  }

  function limitContracts() {
    var client = document.querySelector("select[data-clients]"), picker = document.querySelector("select[data-contracts]");
    if (!client || !picker) { return; }
    function apply() {
      Array.prototype.forEach.call(picker.options, function (option) {
        var owner = option.getAttribute("data-client");
        if (owner === null) { return; }
        var other = !client.value || owner !== client.value;
        option.hidden = other;
        option.disabled = other;
        if (other && option.selected) { picker.value = ""; }
      });
    }
    client.addEventListener("change", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-money]").forEach(function (input) {
      input.addEventListener("input", function () { showUpper(input); });
      showUpper(input);
    });
    document.querySelectorAll("[data-list]").forEach(setUpList);
    limitContracts();
  });
}());
