// The Integrations page. Plain JavaScript, no dependencies, no build step.
// Rules: the token lives in sessionStorage only and travels in the Authorization header;
// every string from a store, a channel or the WMS is written with textContent.
'use strict';

const TOKEN_KEY = 'channel-sync.token';
const CLAIM_KEY = 'channel-sync.claim';
const $ = (selector, root) => (root || document).querySelector(selector);

// What each channel needs, and its key form (fields: name, label, type, optional, words that
// tie a refusal sentence to the field).
const CHANNELS = {
  shopify: {
    name: 'Shopify',
    needs: 'Your myshopify.com domain; you approve the app on Shopify. A custom app token works too.',
    shopLabel: 'Shop domain (name.myshopify.com)',
    form: { title: 'Shopify custom app', fields: [
      { name: 'shop_domain', label: 'Shop domain (name.myshopify.com)', words: ['shop', 'domain'] },
      { name: 'access_token', label: 'Admin API access token', type: 'password', words: ['token', 'scope'] },
      { name: 'api_secret_key', label: 'API secret key (for webhooks)', type: 'password', optional: true, words: ['secret'] },
    ] },
  },
  woocommerce: {
    name: 'WooCommerce',
    needs: 'Your store URL and a REST API key with Read/Write permission.',
    form: { title: 'WooCommerce', fields: [
      { name: 'store_url', label: 'Store URL', type: 'url', words: ['url', 'wordpress', 'https', 'address'] },
      { name: 'consumer_key', label: 'Consumer key', type: 'password', words: ['consumer key', 'read-only', 'key'] },
      { name: 'consumer_secret', label: 'Consumer secret', type: 'password', words: ['secret'] },
    ] },
  },
  tiktok: { name: 'TikTok Shop', needs: 'You authorize the app on TikTok Shop Seller Center.' },
  ebay: { name: 'eBay', needs: 'You sign in to eBay and grant access.' },
  veeqo: {
    name: 'Veeqo / Amazon',
    needs: 'You authorize on Veeqo (or paste an API key), then pick the Inventory Sync Warehouse.',
    form: { title: 'Veeqo API key', fields: [
      { name: 'api_key', label: 'Veeqo API key', type: 'password', words: ['key'] },
    ] },
  },
  etsy: { name: 'Etsy', needs: 'You sign in to Etsy and grant access.' },
  magento: {
    name: 'Magento 2',
    needs: 'Your store URL and an Integration\'s four OAuth 1.0a credentials.',
    form: { title: 'Magento 2 integration', fields: [
      { name: 'store_url', label: 'Store URL', type: 'url', words: ['url', 'magento', 'https'] },
      { name: 'store_code', label: 'Store code (default: all)', optional: true, words: ['store code'] },
      { name: 'consumer_key', label: 'Consumer key', type: 'password', words: ['consumer key'] },
      { name: 'consumer_secret', label: 'Consumer secret', type: 'password', words: ['consumer secret'] },
      { name: 'access_token', label: 'Access token', type: 'password', words: ['access token', 'acl', 'resource'] },
      { name: 'access_token_secret', label: 'Access token secret', type: 'password', words: ['token secret'] },
    ] },
  },
};

const REASONS = {
  exchange_failed: 'the channel did not accept the authorization',
  missing_scopes: 'the app was granted too few permissions',
  missing_code: 'the channel sent no authorization code',
  shop_owned_by_another_account: 'this store is already connected to another account',
};

const state = { channels: [], connections: [] };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function channelName(channel) {
  return (CHANNELS[channel] || { name: channel }).name;
}

function notice(message, bad) {
  const box = $('#notice');
  box.textContent = message;
  box.classList.toggle('bad', !!bad);
  box.hidden = !message;
}

// Calls the API with the session's token; returns {status, body}. A 401 signs out.
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    return { status: 0, body: { message: 'the server could not be reached' } };
  }
  let parsed = {};
  try { parsed = await response.json(); } catch (e) { parsed = {}; }
  if (response.status === 401 && token) {
    signOut('Your token was refused (' + (parsed.message || 'unauthorized') + '): sign in again.');
  }
  return { status: response.status, body: parsed };
}

function message(result) {
  return (result.body && result.body.message) || ('the server answered ' + result.status);
}

// ---- sign-in ----

async function signIn(token) {
  const error = $('#signin-error');
  error.textContent = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  const result = await api('GET', '/api/connections');
  if (result.status !== 200) {
    sessionStorage.removeItem(TOKEN_KEY);
    error.textContent = result.status === 401
      ? 'That token was not accepted (' + message(result) + '). Paste the whole token your operator gave you.'
      : 'Could not sign in: ' + message(result) + '.';
    return false;
  }
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#sign-out').hidden = false;
  const claim = sessionStorage.getItem(CLAIM_KEY);
  if (claim) {
    sessionStorage.removeItem(CLAIM_KEY);
    await redeemClaim(JSON.parse(claim));
    await refresh(); // the list read above predates the redeemed store
  } else {
    await refresh(result.body.connections || []);
  }
  return true;
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('#app').hidden = true;
  $('#sign-out').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = why || '';
  $('#token').value = '';
  $('#token').focus();
}

async function offerDevToken() {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(location.hostname)) return;
  const result = await api('GET', '/integrations/dev-token');
  if (result.status !== 200 || !result.body.token) return;
  $('#dev-offer').hidden = false;
  $('#use-dev-token').addEventListener('click', () => {
    $('#token').value = result.body.token;
    signIn(result.body.token);
  });
}

// ---- the landing after an OAuth install: ?{channel}=connected|error|claim ----

function landing() {
  const params = new URLSearchParams(location.search);
  for (const channel of Object.keys(CHANNELS)) {
    const outcome = params.get(channel);
    if (!outcome) continue;
    if (outcome === 'connected') {
      notice(channelName(channel) + ' store connected.');
    } else if (outcome === 'claim' && params.get('claim')) {
      sessionStorage.setItem(CLAIM_KEY, JSON.stringify({ channel, claim: params.get('claim') }));
      notice('Finishing the ' + channelName(channel) + ' install…');
    } else if (outcome === 'error') {
      const reason = params.get('reason') || 'unknown';
      const missing = params.get('missing');
      notice(channelName(channel) + ' was not connected: ' + (REASONS[reason] || reason)
        + (missing ? ' (missing: ' + missing + ')' : '') + '.', true);
    }
  }
  if (location.search) history.replaceState(null, '', location.pathname);
}

async function redeemClaim(pending) {
  const result = await api('POST', '/api/oauth/' + pending.channel + '/claim', { claim: pending.claim });
  if (result.status === 200 || result.status === 201) {
    notice(channelName(pending.channel) + ' store connected.');
  } else {
    notice(channelName(pending.channel) + ' install could not be finished: ' + message(result), true);
  }
}

// ---- channel cards and connect forms ----

function renderChannels() {
  const grid = $('#channels');
  grid.replaceChildren();
  for (const info of state.channels) {
    const known = CHANNELS[info.channel] || { name: info.channel, needs: '' };
    const card = $('#channel-card').content.firstElementChild.cloneNode(true);
    card.dataset.channel = info.channel;
    $('.name', card).textContent = known.name;
    $('.needs', card).textContent = known.needs;
    const actions = $('.actions', card);
    if (!info.available) {
      $('.state', card).textContent = 'Not available in this build yet.';
    } else {
      if (info.oauth && info.oauth.configured) {
        const button = el('button', 'Connect', 'primary connect-oauth');
        button.type = 'button';
        button.addEventListener('click', () => startOAuth(info, null));
        actions.append(button);
      } else if (info.oauth) {
        $('.state', card).textContent = 'Sign-in with ' + known.name + ' is not configured on this server.';
      }
      if (known.form) {
        const button = el('button', info.oauth && info.oauth.configured ? 'Use keys' : 'Connect', 'connect-form');
        button.type = 'button';
        button.addEventListener('click', () => openForm(info.channel, {}));
        actions.append(button);
      }
    }
    grid.append(card);
  }
}

// Shows the connect panel with `fields`; `submit(values)` returns a result or null.
function openPanel(title, help, fields, initial, submit) {
  const panel = $('#connect-panel');
  $('#connect-title').textContent = title;
  $('#connect-help').textContent = help;
  $('#connect-error').textContent = '';
  const box = $('#connect-fields');
  box.replaceChildren();
  for (const field of fields) {
    const wrap = el('div', null, 'field');
    wrap.dataset.field = field.name;
    const id = 'f-' + field.name;
    const label = el('label', field.label + (field.optional ? ' (optional)' : ''));
    label.htmlFor = id;
    const input = el('input');
    input.id = id;
    input.name = field.name;
    input.type = field.type || 'text';
    input.autocomplete = 'off';
    input.value = initial[field.name] || '';
    const error = el('p', null, 'error');
    error.id = id + '-error';
    error.setAttribute('role', 'alert');
    input.setAttribute('aria-describedby', error.id);
    wrap.append(label, input, error);
    box.append(wrap);
  }
  const form = $('#connect-form');
  form.onsubmit = async (event) => {
    event.preventDefault();
    $('#connect-error').textContent = '';
    const values = {};
    let ok = true;
    for (const field of fields) {
      const wrap = $('[data-field="' + field.name + '"]', box);
      const value = $('input', wrap).value.trim();
      $('.error', wrap).textContent = '';
      if (!value && !field.optional) {
        $('.error', wrap).textContent = field.label + ' is required.';
        ok = false;
      }
      if (value) values[field.name] = value;
    }
    if (!ok) return;
    $('button[type=submit]', form).disabled = true;
    const result = await submit(values);
    $('button[type=submit]', form).disabled = false;
    if (result) showRefusal(fields, result);
  };
  panel.hidden = false;
  $('input', box).focus();
}

// A refusal sentence goes next to the field it names, else under the form.
function showRefusal(fields, result) {
  const text = message(result);
  const lower = text.toLowerCase();
  const hit = fields.find((f) => lower.includes(f.name))
    || fields.find((f) => (f.words || []).some((w) => lower.includes(w)));
  const target = hit ? $('[data-field="' + hit.name + '"] .error', $('#connect-fields')) : $('#connect-error');
  target.textContent = text;
}

function closePanel() {
  $('#connect-panel').hidden = true;
  $('#connect-form').onsubmit = null;
}

function openForm(channel, initial) {
  const form = CHANNELS[channel].form;
  openPanel(form.title, CHANNELS[channel].needs, form.fields, initial, async (values) => {
    const result = await api('POST', '/api/connections', Object.assign({ channel }, values));
    if (result.status === 200 || result.status === 201) {
      closePanel();
      notice(channelName(channel) + ' store connected: ' + (result.body.display_name || result.body.shop) + '.');
      await refresh();
      return null;
    }
    return result;
  });
}

async function startOAuth(info, shop) {
  const go = async (values) => {
    const body = values.shop ? { shop: values.shop } : undefined;
    const result = await api('POST', '/api/oauth/' + info.channel + '/start', body);
    if (result.status === 200 && result.body.authorize_url) {
      location.assign(result.body.authorize_url);
      return null;
    }
    return result;
  };
  if (!info.oauth.needs_shop) {
    const result = await go({});
    if (result) notice(channelName(info.channel) + ': ' + message(result), true);
    return;
  }
  const fields = [{ name: 'shop', label: CHANNELS[info.channel].shopLabel || 'Store', words: ['shop', 'domain'] }];
  if (shop) {
    const result = await go({ shop });
    if (result) notice(channelName(info.channel) + ': ' + message(result), true);
    return;
  }
  openPanel('Connect ' + channelName(info.channel), CHANNELS[info.channel].needs, fields, {}, go);
}

// ---- connections ----

async function refresh(list) {
  if (!list) {
    const result = await api('GET', '/api/connections');
    if (result.status !== 200) return;
    list = result.body.connections || [];
  }
  state.connections = list;
  const box = $('#connections');
  box.replaceChildren();
  $('#no-connections').hidden = list.length > 0;
  for (const connection of list) box.append(connectionCard(connection));
}

function channelInfo(channel) {
  return state.channels.find((c) => c.channel === channel) || { channel, available: false };
}

const STATUS_TEXT = { active: 'Active', needs_reauth: 'Needs reauthorization', disconnected: 'Disconnected' };

function connectionCard(connection) {
  const card = $('#connection-card').content.firstElementChild.cloneNode(true);
  card.dataset.connection = connection.id;
  card.dataset.channel = connection.channel;
  $('.channel-name', card).textContent = channelName(connection.channel);
  $('.display-name', card).textContent = connection.display_name || connection.shop;
  const status = $('.status', card);
  status.textContent = STATUS_TEXT[connection.status] || connection.status;
  status.classList.add(connection.status);
  $('.shop', card).textContent = connection.shop + ' · ' + connection.id;
  const facts = $('.facts', card);
  facts.append(el('li', 'Connected ' + new Date(connection.activated_at || connection.created_at).toLocaleString()));
  const active = connection.status === 'active';
  $('.reconnect', card).hidden = active;
  $('.sync', card).disabled = !active;
  $('.dry-run', card).disabled = !active;
  $('.disconnect', card).hidden = connection.status === 'disconnected';
  $('.reconnect', card).addEventListener('click', () => reconnect(connection));
  $('.sync', card).addEventListener('click', () => syncNow(card, connection, false));
  $('.dry-run', card).addEventListener('click', () => syncNow(card, connection, true));
  $('.show-audit', card).addEventListener('click', () => showAudit(card, connection));
  $('.disconnect', card).addEventListener('click', () => disconnect(card, connection));
  $('.history', card).addEventListener('toggle', (event) => { if (event.target.open) loadRuns(card, connection); });
  fillSettings(card, connection);
  loadDetails(card, connection);
  return card;
}

// Notes, missing settings and orders held for other locations, from GET /api/connections/{id}.
async function loadDetails(card, connection) {
  const result = await api('GET', '/api/connections/' + encodeURIComponent(connection.id));
  if (result.status !== 200) return;
  const facts = $('.facts', card);
  for (const missing of result.body.missing || []) facts.append(el('li', 'Needs: ' + missing, 'error'));
  for (const note of result.body.notes || []) facts.append(el('li', note));
  const others = result.body.orders_for_other_locations;
  if (others && others.count) facts.append(el('li', others.count + ' order(s) were for other locations'));
  const activity = await api('GET', '/api/connections/' + encodeURIComponent(connection.id) + '/activity');
  if (activity.status === 200) for (const line of activityLines(activity.body)) facts.append(el('li', line));
}

const when = (at) => (at ? new Date(at).toLocaleString() : 'never');
const count = (x) => (Array.isArray(x) ? x.length : Number(x) || 0);

// The background jobs' last records, in words.
function activityLines(a) {
  const lines = [];
  const poll = a.last_poll;
  lines.push(poll ? 'Last poll ' + when(poll.finished_at) + ': found ' + poll.found + ', sent ' + poll.enqueued
    + (poll.missed_by_webhooks ? ' (' + poll.missed_by_webhooks + ' missed by webhooks)' : '')
    + (poll.outcome && poll.outcome !== 'completed' ? ' — ' + poll.outcome : '') : 'Not polled yet');
  if (a.orders_up_to && a.orders_up_to.at) lines.push('Orders imported up to ' + when(a.orders_up_to.at));
  const hooks = a.webhooks;
  lines.push(hooks ? 'Webhooks checked ' + when(hooks.at) + ': ' + count(hooks.existing) + ' in place, '
    + count(hooks.created) + ' created, ' + count(hooks.reenabled) + ' re-enabled' : 'Webhooks not checked yet');
  const products = a.products;
  if (products) lines.push('Products imported ' + when(products.finished_at) + ': ' + (products.mapped || 0) + ' SKUs mapped'
    + (products.outcome && products.outcome !== 'completed' ? ' — ' + products.outcome : ''));
  return lines;
}

function reconnect(connection) {
  const info = channelInfo(connection.channel);
  if (info.oauth && info.oauth.configured) return startOAuth(info, info.oauth.needs_shop ? connection.shop : null);
  const form = CHANNELS[connection.channel] && CHANNELS[connection.channel].form;
  if (form) return openForm(connection.channel, { store_url: connection.shop, shop_domain: connection.shop });
  notice(channelName(connection.channel) + ' cannot be reconnected from this server.', true);
}

async function disconnect(card, connection) {
  if (!window.confirm('Disconnect ' + (connection.display_name || connection.shop) + '? Orders stop importing.')) return;
  const result = await api('DELETE', '/api/connections/' + encodeURIComponent(connection.id));
  if (result.status >= 200 && result.status < 300) {
    notice(result.body.message || (connection.display_name || connection.shop) + ' disconnected.');
    await refresh();
  } else {
    $('.conn-message', card).textContent = 'Not disconnected: ' + message(result);
  }
}

// ---- settings ----

function fillSettings(card, connection) {
  const form = $('.settings-form', card);
  const s = connection.settings || {};
  form.elements.inventory_sync.value = s.inventory_sync || 'disabled';
  form.elements.safety_buffer.value = s.safety_buffer || 0;
  form.elements.max_listed.value = s.max_listed === null || s.max_listed === undefined ? '' : s.max_listed;
  form.elements.order_allocation.value = s.order_allocation || '';
  form.elements.notify_customer.checked = !!s.notify_customer;
  form.elements.import_unpaid.checked = !!s.import_unpaid;
  const kind = channelInfo(connection.channel).locations || 'none';
  for (const wrap of form.querySelectorAll('.loc')) {
    wrap.hidden = kind === 'none' || (kind === 'sources' && wrap.dataset.setting === 'fulfilment_location');
  }
  if (kind !== 'none') loadLocations(card, connection, kind);
  form.addEventListener('submit', (event) => { event.preventDefault(); saveSettings(card, connection); });
}

async function loadLocations(card, connection, kind) {
  const form = $('.settings-form', card);
  const note = $('.locations-note', card);
  const result = await api('GET', '/api/connections/' + encodeURIComponent(connection.id) + '/locations');
  const locations = result.status === 200 ? result.body.locations || [] : [];
  if (result.status !== 200) note.textContent = 'Locations could not be read: ' + message(result);
  for (const name of ['fulfilment_location', 'inventory_location']) {
    const select = form.elements[name];
    const current = connection.settings[name];
    select.replaceChildren(el('option', '— none chosen —'));
    select.firstChild.value = '';
    for (const location of locations) {
      const option = el('option', location.name + (location.active ? '' : ' (inactive)'));
      option.value = location.id;
      select.append(option);
    }
    if (current && !locations.some((l) => l.id === current)) {
      const option = el('option', current + ' (not listed by the store)');
      option.value = current;
      select.append(option);
    }
    select.value = current || '';
  }
  if (kind === 'sources') note.textContent = note.textContent || 'Stock is set on the chosen inventory source.';
}

async function saveSettings(card, connection) {
  const form = $('.settings-form', card);
  for (const p of form.querySelectorAll('.error')) p.textContent = '';
  $('.saved', card).textContent = '';
  const e = form.elements;
  const wanted = {
    inventory_sync: e.inventory_sync.value,
    safety_buffer: Number(e.safety_buffer.value || 0),
    max_listed: e.max_listed.value === '' ? null : Number(e.max_listed.value),
    order_allocation: e.order_allocation.value.trim() || null,
    notify_customer: e.notify_customer.checked,
    import_unpaid: e.import_unpaid.checked,
  };
  for (const wrap of form.querySelectorAll('.loc')) {
    if (!wrap.hidden) wanted[wrap.dataset.setting] = e[wrap.dataset.setting].value || null;
  }
  for (const name of ['safety_buffer', 'max_listed']) {
    const value = wanted[name];
    if (value !== null && !(Number.isInteger(value) && value >= 0 && value <= 4294967295)) {
      $('[data-setting="' + name + '"] .error', form).textContent = 'Enter a whole number of units (0 or more).';
      return;
    }
  }
  const changes = {};
  for (const [key, value] of Object.entries(wanted)) {
    const before = connection.settings[key] === undefined ? null : connection.settings[key];
    if (before !== value) changes[key] = value;
  }
  if (!Object.keys(changes).length) { $('.saved', card).textContent = 'Nothing changed.'; return; }
  const result = await api('PATCH', '/api/connections/' + encodeURIComponent(connection.id), { settings: changes });
  if (result.status === 200) {
    connection.settings = result.body.settings;
    $('.saved', card).textContent = 'Saved.';
    return;
  }
  const text = message(result);
  const named = Object.keys(changes).find((key) => text.includes(key));
  const target = named ? $('[data-setting="' + named + '"] .error', form) : $('.form-error', form);
  target.textContent = text;
}

// ---- Sync now, runs ----

function percent(run) {
  if (run.state === 'succeeded' || run.state === 'completed_with_failures') return 100;
  if (!run.total) return 0;
  return Math.min(100, Math.floor((run.done * 100) / run.total));
}

const RUN_KINDS = { sync_now: 'Sync now', enabled: 'First sync after switching on', daily: 'Daily sync', live: 'Live sync' };

function runName(run) {
  return (run.dry_run ? 'Dry run' : '') + (run.dry_run && run.kind === 'sync_now' ? '' : (run.dry_run ? ' · ' : '') + (RUN_KINDS[run.kind] || run.kind));
}

function showRun(card, run) {
  const box = $('.run', card);
  box.hidden = false;
  const value = percent(run);
  $('.run-label', card).textContent = runName(run) + ': ' + run.state.replace(/_/g, ' ');
  $('.bar', card).value = value;
  $('.percent', card).textContent = value + ' %';
  const result = $('.run-result', card);
  if (run.state === 'succeeded' || run.state === 'completed_with_failures' || run.state === 'failed') {
    result.textContent = (run.dry_run ? 'Would push ' : 'Pushed ') + run.pushed + ', unchanged ' + run.unchanged
      + ', failed ' + run.failed + (run.message ? ' — ' + run.message : '');
  } else {
    result.textContent = run.total ? run.done + ' of ' + run.total + ' SKUs' : 'Counting SKUs…';
  }
  const failures = $('.run-failures', card);
  failures.replaceChildren();
  for (const f of run.failures || []) {
    failures.append(el('li', (f.sku || '') + ': ' + (f.reason || f.message || JSON.stringify(f))));
  }
  for (const p of run.sample || []) failures.append(el('li', p.sku + ' → ' + p.quantity));
}

async function syncNow(card, connection, dryRun) {
  const note = $('.conn-message', card);
  note.textContent = '';
  const result = await api('POST', '/api/connections/' + encodeURIComponent(connection.id) + '/sync', { dry_run: dryRun });
  if (result.status !== 202) { note.textContent = message(result); return; }
  let run = result.body.run;
  if (result.body.existing) note.textContent = 'A run was already under way: following it.';
  const until = Date.now() + 30 * 60 * 1000;
  showRun(card, run);
  while (!['succeeded', 'completed_with_failures', 'failed'].includes(run.state) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const read = await api('GET', '/api/runs/' + encodeURIComponent(run.id));
    if (read.status !== 200) { note.textContent = 'Run progress unavailable: ' + message(read); return; }
    run = read.body;
    showRun(card, run);
  }
  if ($('.history', card).open) loadRuns(card, connection);
}

async function loadRuns(card, connection) {
  const result = await api('GET', '/api/connections/' + encodeURIComponent(connection.id) + '/runs?limit=20');
  const body = $('.history tbody', card);
  body.replaceChildren();
  if (result.status !== 200) { body.append(row([message(result)])); return; }
  for (const run of result.body.runs || []) {
    body.append(row([new Date(run.started_at || run.created_at).toLocaleString(), runName(run),
      run.state.replace(/_/g, ' '), run.pushed, run.failed, run.message || '']));
  }
  if (!body.children.length) body.append(row(['No run yet.']));
}

function row(cells) {
  const tr = el('tr');
  for (const cell of cells) tr.append(el('td', cell));
  return tr;
}

// ---- SKU audit: counts first, then the lists ----

async function showAudit(card, connection) {
  const section = $('.audit', card);
  section.hidden = false;
  const result = await api('GET', '/api/sku-audit');
  const counts = $('.audit-counts tbody', card);
  const lists = $('.audit-lists', card);
  counts.replaceChildren();
  lists.replaceChildren();
  if (result.status !== 200) { $('.audit-ready', card).textContent = message(result); return; }
  const audit = (result.body.connections || []).find((a) => a.connection === connection.id);
  if (!audit) { $('.audit-ready', card).textContent = 'No audit for this connection.'; return; }
  $('.audit-ready', card).textContent = audit.ready ? 'Ready: every SKU matches.'
    : 'Not ready: ' + audit.not_ready_because.join('; ');
  const duplicates = audit.duplicate_skus.skus || {};
  const sections = [
    ['SKUs mapped', audit.mapped, null],
    ['Variants without a SKU', audit.blank_skus.total, audit.blank_skus.variants],
    ['Duplicate SKUs', audit.duplicate_skus.total, Object.keys(duplicates).map((s) => s + ': ' + duplicates[s].join(', '))],
    ['Channel SKUs unknown to the WMS', audit.unknown_to_wms.total, audit.unknown_to_wms.skus],
    ['WMS SKUs missing on the channel', audit.missing_on_channel.total, audit.missing_on_channel.skus],
    ['Broken bundles (all stores)', (result.body.bundle_problems || []).length,
      (result.body.bundle_problems || []).map((b) => b.sku + ': ' + b.reason)],
  ];
  for (const [label, count, items] of sections) {
    counts.append(row([label, count]));
    if (items && items.length) {
      lists.append(el('h4', label));
      const ul = el('ul');
      for (const item of items) ul.append(el('li', item));
      lists.append(ul);
    }
  }
}

// ---- start ----

async function start() {
  $('#signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token').value.trim();
    if (token) signIn(token);
  });
  $('#sign-out').addEventListener('click', () => signOut(''));
  $('#connect-cancel').addEventListener('click', closePanel);
  landing();
  const channels = await api('GET', '/integrations/channels');
  state.channels = channels.status === 200 ? channels.body.channels : [];
  renderChannels();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && await signIn(token)) return;
  $('#signin').hidden = false;
  offerDevToken();
}

document.addEventListener('DOMContentLoaded', start);
