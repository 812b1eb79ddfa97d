// Injected into a page in one lab site: one side of a WebRTC call, default ICE policy. The
// test process carries offer, answer and candidates between the two sites' pages (through
// window.turnkeySignal, bound by playwright). Plain JS because it runs in Chromium.
window.turnkeyPeer = (() => {
  let pc;
  let described = false;
  const early = [];
  let channel;
  let initiator;
  /** Every message that arrived, recorded from the moment the channel exists. */
  const inbox = [];
  /** Messages asked to be sent before this side may talk: they go out the moment it may. */
  const outbox = [];
  const started = Date.now();
  /** When things happened, in ms since the page's peer was created: the evidence of a failure. */
  const times = { sent: [], received: [] };
  const at = () => Date.now() - started;

  const send = (message) => {
    channel.send(message);
    times.sent.push([message, at()]);
  };
  // The initiator talks once its channel is open; the answerer once it has heard the
  // initiator. Chromium can lose a message the answerer sends the moment its channel is
  // announced, when it reaches the initiator just as that side's channel opens (about 1 call
  // in 100 with no relay at all: two pages on one host, host candidates). Heard first, the
  // initiator's channel was open before the answerer sent.
  const mayTalk = () =>
    channel !== undefined && channel.readyState === 'open' && (initiator || inbox.length > 0);
  const flush = () => {
    if (mayTalk()) for (const m of outbox.splice(0)) send(m);
  };
  const wireChannel = (ch) => {
    channel = ch;
    times.channel = at();
    ch.addEventListener('message', (event) => {
      inbox.push(event.data);
      times.received.push([event.data, at()]);
      flush();
    });
    const opened = () => {
      times.opened = at();
      flush();
    };
    if (ch.readyState === 'open') opened();
    else ch.addEventListener('open', opened);
  };

  const candidate = (c) => ({
    candidateType: c.candidateType,
    relayProtocol: c.relayProtocol,
    url: c.url,
    address: c.address,
    protocol: c.protocol,
  });
  /** The connection as both sides' evidence needs it: states, selected pair, allocations, inbox. */
  const state = async () => {
    const result = {
      iceState: pc.iceConnectionState,
      connectionState: pc.connectionState,
      channelState: channel ? channel.readyState : 'none',
      inbox: [...inbox],
      times: { ...times, now: at() },
    };
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      result.selected = {
        local: candidate(stats.get(pair.localCandidateId)),
        remote: candidate(stats.get(pair.remoteCandidateId)),
      };
    });
    // Every relay candidate this side allocated: which side's stats name the relay as the
    // selected pair's *local* candidate varies, but these say how each allocation was made.
    result.relays = [];
    stats.forEach((s) => {
      if (s.type === 'local-candidate' && s.candidateType === 'relay')
        result.relays.push(candidate(s));
    });
    return result;
  };

  return {
    /** Creates the peer connection; the initiator opens the channel and returns its offer. */
    async create({ iceServers, initiator: opens, iceTransportPolicy }) {
      initiator = opens;
      pc = new RTCPeerConnection({
        iceServers,
        ...(iceTransportPolicy ? { iceTransportPolicy } : {}),
      });
      pc.onicecandidate = (event) => {
        if (event.candidate) window.turnkeySignal(JSON.stringify(event.candidate.toJSON()));
      };
      pc.oniceconnectionstatechange = () => {
        times[`ice:${pc.iceConnectionState}`] ??= at();
      };
      if (!initiator) {
        pc.ondatachannel = (event) => wireChannel(event.channel);
        return null;
      }
      wireChannel(pc.createDataChannel('turnkey'));
      await pc.setLocalDescription();
      return JSON.stringify(pc.localDescription);
    },

    /** Takes the other side's offer (returns the answer) or answer (returns null). */
    async accept(description) {
      const remote = JSON.parse(description);
      await pc.setRemoteDescription(remote);
      described = true;
      for (const c of early.splice(0)) await pc.addIceCandidate(c);
      if (remote.type !== 'offer') return null;
      await pc.setLocalDescription();
      return JSON.stringify(pc.localDescription);
    },

    async addCandidate(candidate) {
      const c = JSON.parse(candidate);
      if (described) await pc.addIceCandidate(c);
      else early.push(c);
    },

    /**
     * The one way lab calls talk: sends `message` (now if this side may talk, else the moment
     * it may) and waits for `expect` from the other side, which may have arrived already.
     * Connecting may take up to `connectMs`; once the channel is open, `expect` has
     * `deliverMs` more to arrive. Returns the connection's state with `received` set if it did.
     */
    async exchange({ message, expect, connectMs, deliverMs }) {
      const start = Date.now();
      outbox.push(message);
      flush();
      const deadline = () =>
        times.opened === undefined
          ? start + connectMs
          : Math.max(start, started + times.opened) + deliverMs;
      while (!inbox.includes(expect) && Date.now() < deadline())
        await new Promise((resolve) => setTimeout(resolve, 25));
      const result = await state();
      if (inbox.includes(expect)) result.received = expect;
      return result;
    },

    /**
     * Ends the call as an app does (pc.close()): the browser releases its allocations (a
     * Refresh with lifetime 0), which closing the page alone does not, so a relay draining
     * for this call can finish at once instead of when the allocations expire.
     */
    hangUp() {
      pc.close();
    },

    /** The first relay candidate, or null if none arrives in time (no wait for gathering to end). */
    async firstRelayCandidate({ iceServers, timeoutMs }) {
      const probe = new RTCPeerConnection({ iceServers });
      probe.createDataChannel('probe');
      const relay = new Promise((resolve) => {
        probe.onicecandidate = (event) => {
          if (event.candidate && event.candidate.type === 'relay')
            resolve(event.candidate.candidate);
        };
      });
      await probe.setLocalDescription();
      const found = await Promise.race([
        relay,
        new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs)),
      ]);
      probe.close();
      return found;
    },
  };
})();
