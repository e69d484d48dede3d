package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

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

func (lk *liveKnowledge) Knowledge() bot.Knowledge { return lk.index.Load().Knowledge() }

func (lk *liveKnowledge) FAQ(id string) (bot.FAQ, bool) { return lk.index.Load().FAQ(id) }

func (lk *liveKnowledge) Nearest(lat, lng float64) (bot.Branch, float64, bool) {
	return lk.index.Load().Nearest(lat, lng)
}

// reloader returns the round the lifecycle runs every few seconds: it
// polls the knowledge base's version and rebuilds the index when an import
// has changed it.
func (lk *liveKnowledge) reloader(st *store.Store, log *slog.Logger) func(ctx context.Context) error {
	seen, _ := st.KnowledgeVersion(context.Background())
	return func(ctx context.Context) error {
		v, err := st.KnowledgeVersion(ctx)
		if err != nil || v == seen {
			return err
		}
		kb, err := st.LoadKnowledge(ctx)
		if err != nil {
			return fmt.Errorf("knowledge reload: %w", err)
		}
		ix, err := nlu.New(lk.norm, kb)
		if err != nil {
			return fmt.Errorf("knowledge reload: %w", err)
		}
		lk.index.Store(ix)
		seen = v
		log.Info("knowledge reloaded", "branches", len(kb.Branches), "faqs", len(kb.FAQs))
		return nil
	}
}
