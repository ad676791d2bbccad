// The pay page's script. Card and bank details go from this browser straight to the payment processor,
// which answers with a token (pm_...); only that token, the amount and the payer go to link-service.
// A payment attempt keeps one Idempotency-Key: a double click, or pressing Pay again after a lost answer,
// re-sends the same request and is charged once.
"use strict";

(function () {
  const form = document.getElementById("pay-form");
  if (!form) return;
  const config = form.dataset;
  const exponent = Number(config.exponent);
  const $ = (id) => document.getElementById(id);
  const button = $("pay");
  const summary = $("error-summary");

  // Processor error codes (docs/processor-api.md) as the field they concern and plain words.
  const TOKEN_PROBLEMS = {
    invalid_number: ["card_number", "Card number: check the number on your card."],
    invalid_expiry: ["card_exp", "Expiry: the card has expired or the date is not valid."],
    invalid_cvc: ["card_cvc", "CVC: enter the 3 or 4 digit security code."],
    invalid_routing_number: ["routing_number", "Routing number: check the 9 digit routing number."],
    invalid_account_number: ["account_number", "Account number: check your account number."],
  };
  // link-service refusal codes (CONTRACT.md section 2) that concern one field of the page.
  const FIELD_OF_REFUSAL = {
    invalid_amount: "amount",
    amount_above_limit: "amount",
    amount_above_balance: "amount",
  };
  // Answers after which pressing Pay again must re-send the very same request (same key, same token).
  const RETRY_SAME = new Set([409, 429, 500, 502, 503, 504]);

  // The attempt sent without a final answer: {key, fingerprint, body}.
  let pending = null;
  let busy = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return; // a double click while the first is in flight
    busy = true;
    button.disabled = true;
    try {
      await submit();
    } finally {
      busy = false;
      button.disabled = false;
      status("");
    }
  });
  summary.addEventListener("click", (event) => {
    const target = event.target.closest("a[data-field]");
    if (!target) return;
    event.preventDefault();
    $(target.dataset.field).focus();
  });
  button.disabled = false; // the form can only be sent by this script

  async function submit() {
    clearErrors();
    const entered = read();
    const problems = check(entered);
    if (problems.length) return showErrors(problems);
    const fingerprint = JSON.stringify(entered);
    if (!pending || pending.fingerprint !== fingerprint) {
      status("Sending your details securely to the payment processor…");
      const token = await tokenize(entered);
      if (!token) return;
      pending = { key: newKey(), fingerprint, body: paymentBody(entered, token) };
    }
    status("Recording your payment…");
    await sendPayment(pending);
  }

  function read() {
    const method = $("method-echeck").checked ? "echeck" : "card";
    const entered = {
      amount: $("amount").value.trim(),
      name: $("name").value.trim(),
      email: $("email").value.trim(),
      reference: $("reference").value.trim(),
      method,
    };
    if (method === "card") {
      entered.card_number = digits($("card_number").value);
      entered.card_exp = $("card_exp").value.trim();
      entered.card_cvc = $("card_cvc").value.trim();
    } else {
      entered.routing_number = digits($("routing_number").value);
      entered.account_number = digits($("account_number").value);
      entered.authorized = $("authorize").checked;
    }
    return entered;
  }

  function check(entered) {
    const problems = [];
    const amount = parseAmount(entered.amount);
    if (typeof amount === "string") problems.push(["amount", amount]);
    if (!entered.name) problems.push(["name", "Your name: enter your name."]);
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(entered.email))
      problems.push(["email", "Email: enter an email address such as name@example.com."]);
    if (entered.method === "card") {
      if (!/^\d{12,19}$/.test(entered.card_number))
        problems.push(["card_number", "Card number: enter the 12 to 19 digits on your card."]);
      if (!parseExpiry(entered.card_exp))
        problems.push(["card_exp", "Expiry: enter the month and year as MM/YY."]);
      if (!/^\d{3,4}$/.test(entered.card_cvc))
        problems.push(["card_cvc", "CVC: enter the 3 or 4 digit security code."]);
    } else {
      if (!/^\d{9}$/.test(entered.routing_number))
        problems.push(["routing_number", "Routing number: enter the 9 digit routing number."]);
      if (!/^\d{4,17}$/.test(entered.account_number))
        problems.push(["account_number", "Account number: enter 4 to 17 digits."]);
      if (!entered.authorized)
        problems.push(["authorize", "Authorization: tick the box to authorize the eCheck debit."]);
    }
    return problems;
  }

  // What the payer typed as integer minor units, by the currency's ISO 4217 exponent (¥5,000 is 5000),
  // or the problem in plain words.
  function parseAmount(text) {
    const cleaned = text
      .split(config.prefix || config.currency).join("")
      .split(config.suffix.trim() || config.currency).join("")
      .replace(/[\s,]/g, "");
    const match = /^(\d{1,12})(?:\.(\d*))?$/.exec(cleaned);
    if (!match) return `Amount: enter an amount such as ${example()}.`;
    const fraction = (match[2] || "").replace(/0+$/, "");
    if (fraction.length > exponent)
      return exponent === 0
        ? "Amount: enter a whole amount, without decimals."
        : `Amount: use at most ${exponent} decimal places.`;
    const minor = Number(match[1] + fraction.padEnd(exponent, "0"));
    return minor > 0 ? minor : "Amount: enter an amount above zero.";
  }

  function example() {
    return exponent === 0 ? "5000" : "125." + "0".repeat(exponent);
  }

  function parseExpiry(text) {
    const match = /^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/.exec(text);
    if (!match || Number(match[1]) < 1 || Number(match[1]) > 12) return null;
    const year = Number(match[2]);
    return { exp_month: Number(match[1]), exp_year: year < 100 ? 2000 + year : year };
  }

  async function tokenize(entered) {
    const details =
      entered.method === "card"
        ? { type: "card", card: { number: entered.card_number, cvc: entered.card_cvc, ...parseExpiry(entered.card_exp) } }
        : {
            type: "us_bank_account",
            us_bank_account: {
              routing_number: entered.routing_number,
              account_number: entered.account_number,
              account_holder_name: entered.name,
            },
          };
    const answer = await call(config.processorUrl + "/v1/payment_methods", {
      Authorization: "Bearer " + config.publishableKey,
    }, details);
    if (answer && answer.status === 201 && answer.json.id) return answer.json.id;
    if (!answer) {
      showErrors([[null, "We could not reach the payment processor. Please check your connection and try again."]]);
    } else {
      const code = (answer.json.error || {}).code;
      const known = TOKEN_PROBLEMS[code];
      showErrors([known || [null, messageOf(answer, "The payment processor could not accept these details.")]]);
    }
    return null;
  }

  function paymentBody(entered, token) {
    const body = {
      amount: parseAmount(entered.amount),
      method: entered.method,
      payer: { name: entered.name, email: entered.email },
      payment_method: token,
    };
    if (entered.reference) body.reference = entered.reference;
    if (entered.method === "echeck") body.authorization = { accepted: true };
    return body;
  }

  async function sendPayment(attempt) {
    const answer = await call(config.paymentsUrl, { "Idempotency-Key": attempt.key }, attempt.body);
    if (answer && answer.status === 202) {
      pending = null;
      return showDone(attempt.body, answer.json.payment_id);
    }
    if (!answer || RETRY_SAME.has(answer.status)) {
      // Whether it was taken is unknown (or it was refused before being looked at): Pay again re-sends it
      // with the same key, so it is charged at most once.
      const message = answer
        ? messageOf(answer, "Something went wrong on our side.")
        : "We could not reach the server, so we do not know whether your payment went through.";
      return showErrors([[null, message + " Press Pay again to retry: you will not be charged twice."]]);
    }
    pending = null; // a final answer (declined, refused): the next attempt tokenizes again, with a new key
    const field = FIELD_OF_REFUSAL[(answer.json.error || {}).code] || null;
    showErrors([[field, messageOf(answer, "The payment was not accepted.")]]);
  }

  // A JSON POST; null when no answer came back (network down, blocked, aborted).
  async function call(url, headers, body) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
      const json = await response.json().catch(() => ({}));
      return { status: response.status, json };
    } catch (error) {
      return null;
    }
  }

  function messageOf(answer, fallback) {
    const message = (answer.json.error || {}).message;
    return typeof message === "string" && message ? message : fallback;
  }

  function showErrors(problems) {
    const list = $("error-list");
    list.replaceChildren(
      ...problems.map(([field, message]) => {
        const item = document.createElement("li");
        if (field) {
          const link = document.createElement("a");
          link.href = "#" + field;
          link.dataset.field = field;
          link.textContent = message;
          item.append(link);
          $(field).setAttribute("aria-invalid", "true");
        } else {
          item.textContent = message;
        }
        return item;
      }),
    );
    summary.hidden = false;
    summary.focus();
  }

  function clearErrors() {
    summary.hidden = true;
    $("error-list").replaceChildren();
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  function showDone(body, paymentId) {
    $("done-payer").textContent = body.payer.name;
    $("done-amount").textContent = formatMoney(body.amount);
    $("payment-id").textContent = paymentId;
    document.querySelectorAll("#done [data-method]").forEach((line) => {
      line.hidden = line.dataset.method !== body.method;
    });
    form.remove(); // nothing left to send: the card and bank fields go with it
    $("before-paying").hidden = true; // the balance shown before this payment is no longer what is due
    $("done").hidden = false;
    $("done").focus();
  }

  // Minor units as the page shows money (the server's format_money): 500000 USD "$5,000.00", 5000 JPY "¥5,000".
  function formatMoney(minor) {
    const padded = String(minor).padStart(exponent + 1, "0");
    const whole = padded.slice(0, padded.length - exponent).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const fraction = exponent ? "." + padded.slice(padded.length - exponent) : "";
    return config.prefix + whole + fraction + config.suffix;
  }

  function digits(text) {
    return text.replace(/[\s-]/g, "");
  }

  function status(text) {
    $("status").textContent = text;
  }

  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
})();
