// A TURN server built on pion/turn (what STUNner and LiveKit build on), for the relay-cost
// benchmark beside turnserver: UDP on one address, relayed addresses in a port range, and
// credentials checked as Coturn's use-auth-secret checks the ones the credential service mints
// (username "<expiry>:<user>", password base64(HMAC-SHA1(secret, username))). The secret comes
// from TURN_SECRET, never the command line. Built in GOPATH mode over Debian's
// golang-github-pion-turn.v2-dev (bench/relay-cost.ts).
package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:3478", "UDP address to listen on")
	relayIP := flag.String("relay-ip", "", "the relayed address handed to clients")
	realm := flag.String("realm", "turnkey", "realm")
	minPort := flag.Int("min-port", 49152, "lowest relay port")
	maxPort := flag.Int("max-port", 65535, "highest relay port")
	flag.Parse()
	secret := os.Getenv("TURN_SECRET")
	if secret == "" || *relayIP == "" {
		log.Fatal("pion-turn: TURN_SECRET and -relay-ip are required")
	}
	conn, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		log.Fatalf("pion-turn: listen: %v", err)
	}
	loggers := logging.NewDefaultLoggerFactory()
	loggers.DefaultLogLevel = logging.LogLevelError
	auth := func(username, realm string, _ net.Addr) ([]byte, bool) {
		expiry, _, found := strings.Cut(username, ":")
		t, err := strconv.ParseInt(expiry, 10, 64)
		if !found || err != nil || t < time.Now().Unix() {
			return nil, false
		}
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write([]byte(username))
		return turn.GenerateAuthKey(username, realm, base64.StdEncoding.EncodeToString(mac.Sum(nil))), true
	}
	server, err := turn.NewServer(turn.ServerConfig{
		Realm:         *realm,
		AuthHandler:   auth,
		LoggerFactory: loggers,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorPortRange{
				RelayAddress: net.ParseIP(*relayIP),
				Address:      "0.0.0.0",
				MinPort:      uint16(*minPort),
				MaxPort:      uint16(*maxPort),
			},
		}},
	})
	if err != nil {
		log.Fatalf("pion-turn: %v", err)
	}
	fmt.Println("pion-turn: listening on", *listen)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	_ = server.Close()
}
