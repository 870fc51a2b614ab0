package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TasksStream is the name of the JetStream work-queue stream of the
// pipeline's tasks. It is internal: importers read EventsStream.
const TasksStream = "SLUICE_TASKS"

// SubjectTask prefixes the subject of a task; the stage that takes it
// follows: sluice.task.pgp, sluice.task.zip, sluice.task.csv.
const SubjectTask = "sluice.task"

// TaskSubject returns the subject of the tasks of stage.
func TaskSubject(stage string) string { return SubjectTask + "." + stage }

// ConsumerName returns the name of the durable consumer of stage's tasks.
// Every worker of every node pulls from it, so that each task goes to one.
func ConsumerName(stage string) string { return "sluice-" + stage }

// Task is the message of a pipeline task: a reference to one file and the
// attempt it belongs to, never its bytes. Its Nats-Msg-Id is TaskMsgID.
type Task struct {
	Object  Object `json:"object"`
	Attempt int    `json:"attempt"`
}

// TaskMsgID returns the Nats-Msg-Id of the task of file id: JetStream drops
// a second copy published within the duplicates window.
func TaskMsgID(fileID string) string { return fileID + ".task" }

// decodeTask parses a task message.
func decodeTask(data []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return Task{}, fmt.Errorf("decode task: %w", err)
	}
	if t.Object.ID == "" || t.Object.UploadID == "" || t.Attempt < 1 {
		return Task{}, errors.New("decode task: no file id, upload id or attempt")
	}
	return t, nil
}

// RunnerConfig shapes the runner and its JetStream topology. Its keys live
// under pipeline. in the configuration file.
type RunnerConfig struct {
	// Workers is how many tasks of each stage one process works on at once.
	// 0 in `sluice serve` runs no workers there: a node that only takes
	// uploads, with `sluice worker` processes elsewhere.
	Workers int `yaml:"workers" koanf:"workers"`
	// MaxDeliver is how often a task is tried before its file fails: the
	// first delivery and its retries.
	MaxDeliver int `yaml:"max_deliver" koanf:"max_deliver"`
	// Backoff are the pauses before the retries of a task, the last one
	// repeated. The first is also the longest a worker may stay silent: a
	// task not acknowledged and without a heartbeat for that long is given
	// to another worker.
	Backoff []time.Duration `yaml:"backoff" koanf:"backoff"`
	// Heartbeat is the interval of a working task's progress signal
	// (InProgress). It must be shorter than the first Backoff step.
	Heartbeat time.Duration `yaml:"heartbeat" koanf:"heartbeat"`
	// TaskTimeout bounds one try of one task; a try that runs longer is an
	// internal fault and retried.
	TaskTimeout time.Duration `yaml:"task_timeout" koanf:"task_timeout"`
	// MaxDepth bounds the chain: how many stages one file may go through
	// (pgp, zip, pgp, csv is 4).
	MaxDepth int `yaml:"max_depth" koanf:"max_depth"`
	// Duplicates is the de-duplication window of the tasks stream.
	Duplicates time.Duration `yaml:"duplicates" koanf:"duplicates"`
	// Replicas of the tasks stream; cmd sets it from nats.replicas.
	Replicas int `yaml:"-" koanf:"-"`
}

// DefaultRunnerConfig returns two workers per stage, six tries with back-off
// from 10 s to 10 min, a 3 s heartbeat, an hour per try, chains of at most
// four stages (how many ZIP levels are opened is the zip stage's setting,
// pipeline.unzip.max_nesting).
func DefaultRunnerConfig() RunnerConfig {
	return RunnerConfig{
		Workers:     2,
		MaxDeliver:  6,
		Backoff:     []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		Heartbeat:   3 * time.Second,
		TaskTimeout: time.Hour,
		MaxDepth:    4,
		Duplicates:  2 * time.Hour,
		Replicas:    1,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c RunnerConfig) Validate() error {
	switch {
	case c.Workers < 0 || c.Workers > 256:
		return fmt.Errorf("pipeline.workers: must be between 0 (none in this process) and 256 (got %d)", c.Workers)
	case c.MaxDeliver < 1 || c.MaxDeliver > 100:
		return fmt.Errorf("pipeline.max_deliver: must be between 1 and 100 (got %d)", c.MaxDeliver)
	case len(c.Backoff) == 0:
		return errors.New("pipeline.backoff: give at least one pause, e.g. [10s, 1m]")
	case len(c.Backoff) >= c.MaxDeliver && c.MaxDeliver > 1:
		return fmt.Errorf("pipeline.backoff: %d pauses need pipeline.max_deliver of at least %d (JetStream's rule)", len(c.Backoff), len(c.Backoff)+1)
	case slices.ContainsFunc(c.Backoff, func(d time.Duration) bool { return d < 100*time.Millisecond }):
		return errors.New("pipeline.backoff: every pause must be at least 100ms")
	case c.Heartbeat <= 0 || c.Heartbeat >= c.Backoff[0]:
		return fmt.Errorf("pipeline.heartbeat: must be positive and shorter than the first pipeline.backoff step %s (got %s)", c.Backoff[0], c.Heartbeat)
	case c.TaskTimeout <= c.Heartbeat:
		return fmt.Errorf("pipeline.task_timeout: must be longer than pipeline.heartbeat (got %s)", c.TaskTimeout)
	case c.MaxDepth < 1 || c.MaxDepth > 8:
		return fmt.Errorf("pipeline.max_depth: must be between 1 and 8 (got %d)", c.MaxDepth)
	case c.Duplicates <= 0:
		return fmt.Errorf("pipeline.duplicates: must be positive (got %s)", c.Duplicates)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("nats.replicas: must be between 1 and 5 (got %d)", c.Replicas)
	}
	return nil
}

// backoff returns the pause before the retry that follows delivery n
// (1-based).
func (c RunnerConfig) backoff(n int) time.Duration {
	return c.Backoff[min(max(n-1, 0), len(c.Backoff)-1)]
}

// TaskStreamConfig returns the configuration of the tasks stream: a work
// queue (a task is removed once acknowledged) on file storage, holding every
// stage's subject. cmd passes it to broker.EnsureStream at start.
func TaskStreamConfig(c RunnerConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        TasksStream,
		Description: "Sluice pipeline tasks (internal): one subject per stage, references to files, never their bytes",
		Subjects:    []string{SubjectTask + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      0,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Duplicates:  c.Duplicates,
		Replicas:    max(c.Replicas, 1),
	}
}

// ConsumerConfig returns the durable pull consumer of stage's tasks. A work
// queue needs the filters of its consumers disjoint: one subject per stage.
// BackOff sets the redelivery pauses (and overrides AckWait); the worker's
// heartbeat keeps a long task from being redelivered meanwhile.
func ConsumerConfig(c RunnerConfig, stage string) jetstream.ConsumerConfig {
	maxDeliver := c.MaxDeliver
	var backoff []time.Duration
	if maxDeliver > 1 {
		backoff = slices.Clone(c.Backoff)
	}
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(stage),
		Description:   "Sluice " + stage + " stage workers",
		FilterSubject: TaskSubject(stage),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.Backoff[0],
		MaxDeliver:    maxDeliver,
		BackOff:       backoff,
		MaxAckPending: 1024,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      max(c.Replicas, 1),
	}
}
