// Injected into a page of the credential service's origin: two peer connections in one page,
// relay-only, trickling candidates to each other. Plain JS because it runs in Chromium.
window.turnkeyTest = {
  /** Opens a data channel between two relay-only peers and reports the selected pair. */
  async connect({ iceServers, timeoutMs }) {
    const config = { iceServers, iceTransportPolicy: 'relay' };
    const a = new RTCPeerConnection(config);
    const b = new RTCPeerConnection(config);
    const early = new Map([
      [a, []],
      [b, []],
    ]);
    let described = false;
    const forwardTo = (peer) => (event) => {
      if (!event.candidate) return;
      if (described) peer.addIceCandidate(event.candidate).catch(() => {});
      else early.get(peer).push(event.candidate);
    };
    a.onicecandidate = forwardTo(b);
    b.onicecandidate = forwardTo(a);

    const channel = a.createDataChannel('turnkey');
    const opened = new Promise((resolve) => {
      channel.onopen = () => resolve('open');
    });
    const received = new Promise((resolve) => {
      b.ondatachannel = (event) => {
        event.channel.onmessage = (message) => resolve(message.data);
      };
    });
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), timeoutMs));

    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription);
    described = true;
    for (const [peer, candidates] of early)
      for (const c of candidates) await peer.addIceCandidate(c);

    const result = { opened: false };
    if ((await Promise.race([opened, timeout])) !== 'open') {
      result.iceState = a.iceConnectionState;
      a.close();
      b.close();
      return result;
    }
    result.opened = true;
    channel.send('hello through the relay');
    result.message = await Promise.race([received, timeout]);

    const stats = await a.getStats();
    let pair;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId)
        pair = stats.get(s.selectedCandidatePairId);
    });
    if (pair) {
      const local = stats.get(pair.localCandidateId);
      const remote = stats.get(pair.remoteCandidateId);
      result.local = {
        candidateType: local.candidateType,
        relayProtocol: local.relayProtocol,
        address: local.address,
      };
      result.remote = { candidateType: remote.candidateType, address: remote.address };
    }
    a.close();
    b.close();
    return result;
  },

  /** The first relay candidate, or null if none arrives in time (no wait for gathering to end). */
  async firstRelayCandidate({ iceServers, timeoutMs }) {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
    pc.createDataChannel('probe');
    const relay = new Promise((resolve) => {
      pc.onicecandidate = (event) => {
        if (event.candidate && event.candidate.type === 'relay') resolve(event.candidate.candidate);
      };
    });
    await pc.setLocalDescription();
    const found = await Promise.race([
      relay,
      new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs)),
    ]);
    pc.close();
    return found;
  },
};
