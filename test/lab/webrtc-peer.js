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
