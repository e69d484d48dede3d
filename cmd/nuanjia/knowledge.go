package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/store"
)

// liveKnowledge is the understanding index the server answers from. An
// import in another process changes the database; reloadEvery notices and
// swaps in a new index without a restart.
type liveKnowledge struct {
	norm  *nlu.Normalizer
	index atomic.Pointer[nlu.Index]
}

func newLiveKnowledge(norm *nlu.Normalizer, kb bot.Knowledge) (*liveKnowledge, error) {
	ix, err := nlu.New(norm, kb)
	if err != nil {
		return nil, err
	}
	lk := &liveKnowledge{norm: norm}
	lk.index.Store(ix)
	return lk, nil
}

func (lk *liveKnowledge) Understand(text string) bot.Understanding {
	return lk.index.Load().Understand(text)
}

func (lk *liveKnowledge) Branch(id string) (bot.Branch, bool) { return lk.index.Load().Branch(id) }

func (lk *liveKnowledge) FAQ(id string) (bot.FAQ, bool) { return lk.index.Load().FAQ(id) }

func (lk *liveKnowledge) Nearest(lat, lng float64) (bot.Branch, float64, bool) {
	return lk.index.Load().Nearest(lat, lng)
}

// reloadEvery polls the knowledge base's version and rebuilds the index
// when an import has changed it, until ctx ends.
func (lk *liveKnowledge) reloadEvery(ctx context.Context, st *store.Store, period time.Duration, log *slog.Logger) {
	seen, _ := st.KnowledgeVersion(ctx)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := st.KnowledgeVersion(ctx)
		if err != nil || v == seen {
			continue
		}
		kb, err := st.LoadKnowledge(ctx)
		if err != nil {
			log.Warn("knowledge reload failed", "error", err)
			continue
		}
		ix, err := nlu.New(lk.norm, kb)
		if err != nil {
			log.Warn("knowledge reload failed", "error", err)
			continue
		}
		lk.index.Store(ix)
		seen = v
		log.Info("knowledge reloaded", "branches", len(kb.Branches), "faqs", len(kb.FAQs))
	}
}
