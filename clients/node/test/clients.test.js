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

  // Reactions, as Rocket.Chat shapes them, through the client's generic post and get.
  assert.equal((await api.post('chat.react', { messageId: sent._id, emoji: 'smile' }, true)).success, true);
  const reacted = await api.get('chat.getMessage', { msgId: sent._id }, true);
  assert.deepEqual(reacted.message.reactions, { ':smile:': { usernames: [user] } });
  assert.equal((await api.post('chat.react', { messageId: sent._id, emoji: ':smile:' }, true)).success, true);
  assert.equal((await api.get('chat.getMessage', { msgId: sent._id }, true)).message.reactions, undefined, 'toggled off');

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
  // Its constructor opens a DDP websocket to /websocket; the REST half is what this test
  // drives (the next test drives the socket), so close it.
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

  // users.createToken: the admin mints a login token (user-generate-access-token).
  const minted = await client.users.createToken({ username: user });
  assert.equal(minted.success, true);
  assert.equal(minted.data.userId, data.userId);
  assert.equal(typeof minted.data.authToken, 'string');
  // users.setAvatar by URL: refused with 400 (rocketlite fetches nothing; upload instead).
  await assert.rejects(client.users.setAvatar('http://169.254.169.254/latest'), (e) => e.statusCode === 400);

  const out = await client.logout();
  assert.equal(out.message, "You've been logged out!");
  client.setAuthToken(data.authToken);
  client.setUserId(data.userId);
  await assert.rejects(client.channels.list({}), (e) => e.statusCode === 401);
});

// A plain user made by the admin over REST, for the tests that need a second person.
async function makeUser(admin, prefix, roles) {
  const username = unique(prefix);
  const pw = 'pw-' + crypto.randomBytes(6).toString('hex');
  const made = await admin.post('users.create', {
    username, email: `${username}@example.org`, name: username, password: pw, roles: roles || ['user'],
  }, true);
  assert.equal(made.success, true);
  return { username, password: pw, id: made.user._id };
}

// waitFor resolves with the first value that check returns (not undefined) among the values
// pushed into a list, or rejects after ms.
function collector() {
  const seen = [];
  const waiters = [];
  return {
    push(v) {
      seen.push(v);
      for (const w of waiters.splice(0)) w();
    },
    waitFor(check, ms = 10000, what = 'event') {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
        const look = () => {
          for (const v of seen) {
            const r = check(v);
            if (r !== undefined) { clearTimeout(timer); resolve(r); return; }
          }
          waiters.push(look);
        };
        look();
      });
    },
  };
}

const silentLogger = { debug() {}, info() {}, warning() {}, warn() {}, error() {} };

test('@rocket.chat/sdk Bot over DDP (connect, login, subscribeToMessages, reply)', { timeout: 30000 }, async () => {
  const ApiRocketChat = require('@rocket.chat/sdk/lib/api/RocketChat').default;
  const Bot = require('@rocket.chat/sdk/lib/clients/Bot').default;
  const admin = new ApiRocketChat({ host: base, logger: silentLogger });
  await admin.login({ username: user, password });
  const botUser = await makeUser(admin, 'bot', ['bot']);
  const name = unique('botroom');
  const created = await admin.post('channels.create', { name, members: [botUser.username] }, true);
  const rid = created.channel._id;

  const bot = new Bot({ host: base, useSsl: false, logger: silentLogger });
  await bot.connect({});
  await bot.login({ username: botUser.username, password: botUser.password });
  assert.equal(bot.userId, botUser.id);
  await bot.subscribeToMessages();

  const incoming = collector();
  const own = collector();
  await bot.respondToMessages((err, message) => { if (!err) incoming.push(message); });
  await bot.reactToMessages((err, message) => { if (!err && message.u && message.u._id === botUser.id) own.push(message); });

  const tag = crypto.randomBytes(4).toString('hex');
  const sent = await admin.sendMessage('ping ' + tag, rid); // another user, over REST
  const got = await incoming.waitFor((m) => (m.msg === 'ping ' + tag ? m : undefined), 10000, 'message from REST');
  assert.equal(got._id, sent._id);
  assert.equal(got.rid, rid);
  assert.equal(typeof got.ts.$date, 'number', 'ts is EJSON');

  const reply = await bot.sendToRoomId('pong ' + tag, rid);
  assert.equal(reply.msg, 'pong ' + tag);
  const echoed = await own.waitFor((m) => (m.msg === 'pong ' + tag ? m : undefined), 10000, 'own reply on the stream');
  assert.equal(echoed._id, reply._id);

  const history = await admin.get('channels.history', { roomId: rid }, true);
  assert.equal(history.messages[0].msg, 'pong ' + tag, 'the reply is stored');
  assert.equal(history.messages[0].u.username, botUser.username);

  await bot.logout();
  await bot.disconnect();
  await admin.logout();
});

test('rocketchat-api WsClient (DDP login, room and notification streams, join and leave)', { timeout: 30000 }, async () => {
  const RocketChatClient = require('rocketchat-api');
  const ApiRocketChat = require('@rocket.chat/sdk/lib/api/RocketChat').default;
  const url = new URL(base);
  const admin = new ApiRocketChat({ host: base, logger: silentLogger });
  await admin.login({ username: user, password });
  const person = await makeUser(admin, 'ws');
  const name = unique('wsroom');
  const created = await admin.post('channels.create', { name, members: [person.username] }, true);
  const rid = created.channel._id;
  const other = await admin.post('channels.create', { name: unique('wsjoin') }, true);
  const rid2 = other.channel._id;

  const client = new RocketChatClient({ protocol: url.protocol.replace(':', ''), host: url.hostname, port: url.port });
  try {
    const login = await promisify(client.realtime.login.bind(client.realtime))(person.username, person.password);
    assert.equal(login.id, person.id);
    assert.equal(typeof login.token, 'string');

    const roomEvents = collector();
    const notifications = collector();
    client.notify.room.onChanged(rid, (err, msg) => { if (!err) roomEvents.push(msg); });
    client.notify.user.onNotification(person.id, (err, msg) => { if (!err) notifications.push(msg); });
    // The subscriptions are registered before the posts below: a method call is answered
    // after every earlier message on the socket was handled.
    assert.equal(await promisify(client.realtime.joinChannel.bind(client.realtime))(rid2), true);

    const tag = crypto.randomBytes(4).toString('hex');
    await admin.sendMessage(`hello @${person.username} ${tag}`, rid);
    const ev = await roomEvents.waitFor((m) => {
      const a = m.fields && m.fields.args && m.fields.args[0];
      return a && a.msg === `hello @${person.username} ${tag}` ? m : undefined;
    }, 10000, 'room message');
    assert.equal(ev.collection, 'stream-room-messages');
    assert.equal(ev.fields.eventName, rid);
    const n = await notifications.waitFor((m) => {
      const a = m.fields && m.fields.args && m.fields.args[0];
      return a && a.payload && a.payload.rid === rid ? a : undefined;
    }, 10000, 'notification');
    assert.equal(n.payload.sender.username, user);
    assert.ok(n.text.includes(tag));

    const joined = await admin.get('channels.info', { roomId: rid2 }, true);
    assert.ok(joined.channel.usernames.includes(person.username), 'joinChannel joined');
    assert.equal(await promisify(client.realtime.leaveChannel.bind(client.realtime))(rid2), true);
    const left = await admin.get('channels.info', { roomId: rid2 }, true);
    assert.ok(!left.channel.usernames.includes(person.username), 'leaveChannel left');
  } finally {
    client.wsClient.disconnect(); // the test ends by itself: no socket left open
    await admin.logout();
  }
});

// rocketchat-api's groups, im and channels modules (moderation and lifecycle), unchanged.
test('rocketchat-api groups, im and channel moderation', { timeout: 30000 }, async () => {
  const RocketChatClient = require('rocketchat-api');
  const url = new URL(base);
  const opts = { protocol: url.protocol.replace(':', ''), host: url.hostname, port: url.port };
  const client = new RocketChatClient(opts);
  client.wsClient.disconnect();
  const data = await client.login(user, password);

  // A second account, so that there is someone to invite, promote and write to.
  const otherName = unique('peer');
  const otherPass = 'peer-' + crypto.randomBytes(6).toString('hex');
  const made = await client.users.create({ email: `${otherName}@example.org`, name: otherName, password: otherPass, username: otherName });
  const other = made.user;

  // groups.*
  const gname = unique('grp');
  const g = await client.groups.create(gname, [otherName]);
  assert.equal(g.group.t, 'p');
  assert.deepEqual([...g.group.usernames].sort(), [otherName, user].sort());
  const gid = g.group._id;
  assert.equal((await client.groups.info(gid)).group.name, gname);
  const mine = await client.groups.list({});
  assert.ok(mine.groups.some((x) => x._id === gid));
  const posted = await client.chat.postMessage({ roomId: gid, text: 'group hello' });
  const gh = await client.groups.history({ roomId: gid });
  assert.equal(gh.messages[0]._id, posted.message._id);
  const members = await client.groups.listMembers(gid);
  assert.equal(members.total, 2);
  assert.equal((await client.groups.setTopic(gid, 'topic!')).topic, 'topic!');
  assert.equal((await client.groups.setDescription(gid, 'desc')).description, 'desc');
  assert.equal((await client.groups.setPurpose(gid, 'purpose')).purpose, 'purpose');
  assert.equal((await client.groups.setReadOnly(gid, true)).group.ro, true);
  await client.groups.setReadOnly(gid, false);
  await client.groups.addModerator(gid, other._id);
  const roles = await client.groups.roles(gid);
  assert.ok(roles.roles.some((r) => r.u.username === otherName && r.roles.includes('moderator')));
  await client.groups.removeModerator(gid, other._id);
  await client.groups.addOwner(gid, other._id);
  await client.groups.removeOwner(gid, other._id);
  const renamed = unique('grp2');
  assert.equal((await client.groups.rename(gid, renamed)).group.name, renamed);
  await client.groups.kick(gid, other._id);
  assert.equal((await client.groups.listMembers(gid)).total, 1);
  await client.groups.invite(gid, other._id);
  await client.groups.close(gid);
  await client.groups.open(gid);
  await client.groups.archive(gid);
  await assert.rejects(client.chat.postMessage({ roomId: gid, text: 'archived' }), (e) => e.statusCode === 400);
  await client.groups.unarchive(gid);

  // The other user sees the group; a third user (none) is not needed: the server's own tests
  // cover that. The other user leaves.
  const peer = new RocketChatClient(opts);
  peer.wsClient.disconnect();
  await peer.login(otherName, otherPass);
  assert.ok((await peer.groups.list({})).groups.some((x) => x._id === gid));
  await peer.groups.leave(gid);
  await assert.rejects(peer.groups.info(gid), (e) => e.statusCode === 400);

  // im.*: rocketchat-api has no im.create; its generic request sends it.
  const dm = await client.restClient.request('POST', 'im.create', { username: otherName });
  assert.equal(dm.room.t, 'd');
  const dmid = dm.room._id;
  await peer.chat.postMessage({ channel: '@' + user, text: 'direct hello' });
  const dh = await client.im.history({ roomId: dmid });
  assert.equal(dh.messages[0].msg, 'direct hello');
  const ims = await client.im.list({});
  assert.ok(ims.ims.some((x) => x._id === dmid));
  await client.im.close(dmid);
  await client.im.open(dmid);
  const sub = await client.restClient.request('GET', 'subscriptions.getOne', { roomId: dmid });
  assert.equal(sub.subscription.unread, 1);
  assert.equal(sub.subscription.name, otherName);
  await client.restClient.request('POST', 'subscriptions.read', { rid: dmid });
  assert.equal((await client.restClient.request('GET', 'subscriptions.getOne', { roomId: dmid })).subscription.unread, 0);

  // channels.* moderation and lifecycle.
  const cname = unique('chan');
  const ch = await client.channels.create(cname);
  const cid = ch.channel._id;
  await client.channels.invite(cid, 'rocket.cat'); // the development seed's fixed bot id
  await client.channels.addModerator(cid, 'rocket.cat');
  await client.channels.removeModerator(cid, 'rocket.cat');
  await client.channels.addOwner(cid, 'rocket.cat');
  await client.channels.removeOwner(cid, 'rocket.cat');
  const t0 = new Date(Date.now() - 60000).toISOString();
  await client.chat.postMessage({ roomId: cid, text: 'to be cleaned' });
  await client.channels.cleanHistory(cid, new Date(Date.now() + 60000).toISOString(), t0, true);
  const left = await client.channels.history({ roomId: cid });
  assert.ok(!left.messages.some((m) => m.msg === 'to be cleaned'));
  assert.equal((await client.channels.setJoinCode(cid, 'sesame')).channel.joinCodeRequired, true);
  await assert.rejects(peer.restClient.request('POST', 'channels.join', { roomId: cid }), (e) => e.statusCode === 400);
  await peer.restClient.request('POST', 'channels.join', { roomId: cid, joinCode: 'sesame' });
  assert.equal((await client.channels.setReadOnly(cid, true)).channel.ro, true);
  await client.channels.archive(cid);
  await client.channels.unarchive(cid);
  assert.equal((await client.channels.setType(cid, 'p')).channel.t, 'p');
  await client.channels.setType(cid, 'c');
  await client.channels.addAll(cid);
  await client.restClient.request('POST', 'channels.delete', { roomId: cid });
  await assert.rejects(client.channels.info(cid), (e) => e.statusCode === 400);

  await peer.logout();
  await client.logout();
  assert.ok(data.authToken);
});
