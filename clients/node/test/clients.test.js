'use strict';
// Drives the published Rocket.Chat npm clients, unchanged, against a running rocketlite.
// ROCKETLITE_URL (e.g. http://127.0.0.1:3000), ROCKETLITE_USER and ROCKETLITE_PASSWORD name
// the server and an account that may create channels (run.sh starts one with the testdata seed).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { promisify } = require('node:util');

const base = process.env.ROCKETLITE_URL;
const user = process.env.ROCKETLITE_USER;
const password = process.env.ROCKETLITE_PASSWORD;
if (!base || !user || !password) {
  throw new Error('set ROCKETLITE_URL, ROCKETLITE_USER and ROCKETLITE_PASSWORD');
}

const unique = (prefix) => `${prefix}-${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;

test('@rocket.chat/sdk REST client (lib/api/RocketChat)', { timeout: 30000 }, async () => {
  const ApiRocketChat = require('@rocket.chat/sdk/lib/api/RocketChat').default;
  const api = new ApiRocketChat({ host: base });

  const data = await api.login({ username: user, password });
  assert.equal(api.username, user, 'login reply carries data.me.username');
  assert.equal(typeof data.authToken, 'string');

  const info = await api.info();
  assert.equal(typeof info.version, 'string');

  const me = await api.get('me', {}, true);
  assert.equal(me.success, true);
  assert.equal(me.username, user);
  assert.equal(me._id, data.userId);

  const name = unique('sdk');
  const created = await api.post('channels.create', { name }, true);
  assert.equal(created.channel.name, name);
  assert.equal(created.channel.t, 'c');
  assert.ok(created.channel.usernames.includes(user));
  const rid = created.channel._id;

  const byName = await api.channelInfo({ roomName: name });
  assert.equal(byName._id, rid);

  const text = 'hello from @rocket.chat/sdk ' + crypto.randomBytes(4).toString('hex');
  const sent = await api.sendMessage(text, rid);
  assert.equal(sent.msg, text);
  assert.equal(sent.rid, rid);
  assert.equal(sent.u.username, user);

  const history = await api.get('channels.history', { roomId: rid }, true);
  assert.equal(history.success, true);
  assert.equal(history.messages[0]._id, sent._id, 'newest first');
  assert.equal(history.messages[0].msg, text);
  assert.ok(!Number.isNaN(Date.parse(history.messages[0].ts)), 'ts is an ISO date');

  // The same account logs in with the SHA-256 digest of its password, as Rocket.Chat's own
  // clients do, through the same client.
  const digestApi = new ApiRocketChat({ host: base });
  const digest = crypto.createHash('sha256').update(password).digest('hex');
  const d2 = await digestApi.login({ user: { username: user }, password: { digest, algorithm: 'sha-256' } });
  assert.equal(d2.me.username, user);
  await digestApi.logout();

  await api.logout();
  // The client keeps its old headers after logout: the server must refuse that token now.
  await assert.rejects(api.get('me', {}, true), (r) => r.status === 401);
});

test('rocketchat-api client', { timeout: 30000 }, async () => {
  const RocketChatClient = require('rocketchat-api');
  const url = new URL(base);
  const client = new RocketChatClient({ protocol: url.protocol.replace(':', ''), host: url.hostname, port: url.port });
  // Its constructor opens a DDP websocket to /websocket and reconnects forever; rocketlite has
  // none, so stop it at once: the REST half is what this test drives.
  client.wsClient.disconnect();

  const data = await client.login(user, password);
  assert.equal(typeof data.authToken, 'string');
  assert.equal(data.me.username, user);

  const me = await promisify(client.authentication.me.bind(client.authentication))();
  assert.equal(me.username, user);
  assert.equal(me._id, data.userId);

  const name = unique('rcapi');
  const created = await client.channels.create(name);
  assert.equal(created.success, true);
  assert.equal(created.channel.name, name);
  const rid = created.channel._id;

  const text = 'hello from rocketchat-api ' + crypto.randomBytes(4).toString('hex');
  const posted = await client.chat.postMessage({ roomId: rid, text });
  assert.equal(posted.success, true);
  assert.equal(posted.message.msg, text);
  assert.equal(typeof posted.ts, 'number');

  const history = await client.channels.history({ roomId: rid });
  assert.equal(history.success, true);
  assert.equal(history.messages[0]._id, posted.message._id);
  assert.equal(history.messages[0].msg, text);

  const joined = await client.channels.listJoined({});
  assert.ok(joined.channels.some((c) => c._id === rid));
  assert.equal(typeof joined.total, 'number');

  const out = await client.logout();
  assert.equal(out.message, "You've been logged out!");
  client.setAuthToken(data.authToken);
  client.setUserId(data.userId);
  await assert.rejects(client.channels.list({}), (e) => e.statusCode === 401);
});
