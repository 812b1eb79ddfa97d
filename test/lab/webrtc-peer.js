// Injected into a page in one lab site: one side of a WebRTC call, default ICE policy. The
// test process carries offer, answer and candidates between the two sites' pages (through
// window.turnkeySignal, bound by playwright). Plain JS because it runs in Chromium.
window.turnkeyPeer = (() => {
  let pc;
  let described = false;
  const early = [];
  // The channel's events are caught from the moment it exists: the other side may open it and
  // send before this side's exchange() runs.
  let resolveChannel;
  let channel;
  /** Every message that arrived, from the moment the channel exists (for talk()). */
  const inbox = [];
  const incoming = new Promise((resolve) => {
    resolveChannel = resolve;
  });
  const wireChannel = (ch) => {
    const opened = new Promise((resolve) => {
      if (ch.readyState === 'open') resolve(true);
      ch.addEventListener('open', () => resolve(true));
    });
    const message = new Promise((resolve) => {
      ch.addEventListener('message', (event) => resolve(event.data));
    });
    channel = ch;
    ch.addEventListener('message', (event) => inbox.push(event.data));
    resolveChannel({ ch, opened, message });
  };

  return {
    /** Creates the peer connection; the initiator opens the channel and returns its offer. */
    async create({ iceServers, initiator }) {
      pc = new RTCPeerConnection({ iceServers });
      pc.onicecandidate = (event) => {
        if (event.candidate) window.turnkeySignal(JSON.stringify(event.candidate.toJSON()));
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

    /** Sends a message once the channel opens; reports what arrived and the selected pair. */
    async exchange({ message, timeoutMs }) {
      const timeout = new Promise((resolve) => setTimeout(() => resolve(undefined), timeoutMs));
      const wired = await Promise.race([incoming, timeout]);
      let received;
      if (wired && (await Promise.race([wired.opened, timeout]))) {
        wired.ch.send(message);
        received = await Promise.race([wired.message, timeout]);
      }
      const result = { iceState: pc.iceConnectionState };
      if (received !== undefined) result.received = received;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const info = (c) => ({
          candidateType: c.candidateType,
          relayProtocol: c.relayProtocol,
          url: c.url,
          address: c.address,
          protocol: c.protocol,
        });
        result.selected = {
          local: info(stats.get(pair.localCandidateId)),
          remote: info(stats.get(pair.remoteCandidateId)),
        };
      });
      // Every relay candidate this side allocated: which side's stats name the relay as the
      // selected pair's *local* candidate varies, but these say how each allocation was made.
      result.relays = [];
      stats.forEach((s) => {
        if (s.type === 'local-candidate' && s.candidateType === 'relay')
          result.relays.push({
            candidateType: s.candidateType,
            relayProtocol: s.relayProtocol,
            url: s.url,
            address: s.address,
            protocol: s.protocol,
          });
      });
      return result;
    },

    /**
     * Later in a call that exchange() opened: sends another message and waits for `expect`
     * from the other side (which may have arrived already), with the connection's state.
     */
    async talk({ message, expect, timeoutMs }) {
      if (channel.readyState === 'open') channel.send(message);
      const deadline = Date.now() + timeoutMs;
      while (!inbox.includes(expect) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const result = { iceState: pc.iceConnectionState, channelState: channel.readyState };
      if (inbox.includes(expect)) result.received = expect;
      return result;
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
