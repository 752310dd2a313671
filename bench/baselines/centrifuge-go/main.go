// Baseline: the Go centrifuge library (the one Centrifugo is built on; Debian's 0.15), as a small
// chat server for the bench. In-memory broker and presence, anonymous connections, a `chat:`
// namespace with history (100 publications, 300 s) whose subscribers publish, WebSocket on
// /connection/websocket speaking the library's JSON protocol (v1: {"id","method","params"}).
//
// A connect with a token must carry an HS256 JWT signed with JWT_SECRET (its `sub` is the user,
// who is then subscribed to the inbox `#<user>` on the server side, as the gateway does);
// a connect without one is anonymous.
//
// Environment: PORT (required), HOST (127.0.0.1), JWT_SECRET (tokens refused without it),
// PING_INTERVAL_SEC (3600: the bench's cheap clients do not answer pings; the library's default
// 25 s ping cut publishers whose pongs queued behind their publishes).
//
// Built by bench/lib/centrifuge-go.ts in GOPATH mode from Debian's packages, never fetched.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

const (
	historySize = 100
	historyTTL  = 300 * time.Second
)

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		log.Printf("%s must be a positive integer, got %q", name, v)
		os.Exit(2)
	}
	return n
}

var errBadToken = errors.New("bad token")

// userOf checks an HS256 JWT (signature and exp) and returns its `sub`.
func userOf(token string, secret []byte) (string, error) {
	parts := strings.Split(token, ".")
	if len(secret) == 0 || len(parts) != 3 {
		return "", errBadToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return "", errBadToken
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errBadToken
	}
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if json.Unmarshal(body, &claims) != nil || claims.Sub == "" || (claims.Exp > 0 && claims.Exp < time.Now().Unix()) {
		return "", errBadToken
	}
	return claims.Sub, nil
}

func main() {
	port := envInt("PORT", 0)
	if port == 0 {
		log.Print("PORT is required")
		os.Exit(2)
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	ping := time.Duration(envInt("PING_INTERVAL_SEC", 3600)) * time.Second
	secret := []byte(os.Getenv("JWT_SECRET"))

	cfg := centrifuge.DefaultConfig
	cfg.LogLevel = centrifuge.LogLevelError
	cfg.LogHandler = func(e centrifuge.LogEntry) { log.Printf("%s: %v", e.Message, e.Fields) }
	node, err := centrifuge.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	broker, err := centrifuge.NewMemoryBroker(node, centrifuge.MemoryBrokerConfig{HistoryMetaTTL: historyTTL})
	if err != nil {
		log.Fatal(err)
	}
	node.SetBroker(broker)

	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		if e.Token == "" {
			return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{}}, nil
		}
		user, err := userOf(e.Token, secret)
		if err != nil {
			return centrifuge.ConnectReply{}, centrifuge.DisconnectInvalidToken
		}
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: user},
			Subscriptions: map[string]centrifuge.SubscribeOptions{"#" + user: {Recover: true}},
		}, nil
	})

	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			if !strings.HasPrefix(e.Channel, "chat:") {
				cb(centrifuge.SubscribeReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.SubscribeReply{Options: centrifuge.SubscribeOptions{Recover: true}}, nil)
		})
		client.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			if !strings.HasPrefix(e.Channel, "chat:") || !client.IsSubscribed(e.Channel) {
				cb(centrifuge.PublishReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.PublishReply{Options: centrifuge.PublishOptions{HistorySize: historySize, HistoryTTL: historyTTL}}, nil)
		})
	})

	if err := node.Run(); err != nil {
		log.Fatal(err)
	}
	http.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		ReadBufferSize:     1024,
		UseWriteBufferPool: true,
		PingInterval:       ping,
	}))
	server := &http.Server{Addr: host + ":" + strconv.Itoa(port)}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	fmt.Printf("centrifuge-go listening on %s\n", server.Addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = node.Shutdown(ctx)
	_ = server.Shutdown(ctx)
}
