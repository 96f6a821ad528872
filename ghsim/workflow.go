package ghsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// workflowID is the simulated workflow's numeric id.
const workflowID = 161335

// workflow is what the simulator takes from a workflow file: its name,
// run-name template, the workflow_dispatch inputs and the first job.
type workflow struct {
	file, path   string
	name         string
	runName      string
	dispatchable bool
	inputs       []workflowInput
	jobName      string
	labels       []string
}

type workflowInput struct {
	name     string
	required bool
	def      string
	options  []string // for type: choice
}

// rawWorkflow is the part of the workflow syntax the simulator reads.
type rawWorkflow struct {
	Name    string    `yaml:"name"`
	RunName string    `yaml:"run-name"`
	On      yaml.Node `yaml:"on"`
	Jobs    yaml.Node `yaml:"jobs"`
}

type rawInput struct {
	Required bool      `yaml:"required"`
	Default  yaml.Node `yaml:"default"`
	Options  []string  `yaml:"options"`
}

type rawJob struct {
	Name   string    `yaml:"name"`
	RunsOn yaml.Node `yaml:"runs-on"`
}

var workflowFileName = regexp.MustCompile(`^[A-Za-z0-9._-]+\.ya?ml$`)

func parseWorkflow(file string, data []byte) (*workflow, error) {
	if !workflowFileName.MatchString(file) {
		return nil, fmt.Errorf("workflow file name %q: want a .yml or .yaml base name", file)
	}
	var raw rawWorkflow
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse workflow %s: %w", file, err)
	}
	w := &workflow{
		file:    file,
		path:    ".github/workflows/" + file,
		name:    raw.Name,
		runName: raw.RunName,
		jobName: "build",
		labels:  []string{"ubuntu-latest"},
	}
	if w.name == "" {
		// GitHub names a workflow without a name by its path.
		w.name = w.path
	}
	if err := w.parseOn(&raw.On); err != nil {
		return nil, fmt.Errorf("workflow %s: %w", file, err)
	}
	if err := w.parseJobs(&raw.Jobs); err != nil {
		return nil, fmt.Errorf("workflow %s: %w", file, err)
	}
	return w, nil
}

// parseOn reads the trigger, which may be a string, a list or a map.
func (w *workflow) parseOn(on *yaml.Node) error {
	switch on.Kind {
	case 0:
		return errors.New("no 'on' trigger")
	case yaml.ScalarNode:
		w.dispatchable = on.Value == "workflow_dispatch"
	case yaml.SequenceNode:
		w.dispatchable = slices.ContainsFunc(on.Content, func(n *yaml.Node) bool { return n.Value == "workflow_dispatch" })
	case yaml.MappingNode:
		for i := 0; i+1 < len(on.Content); i += 2 {
			if on.Content[i].Value != "workflow_dispatch" {
				continue
			}
			w.dispatchable = true
			return w.parseInputs(on.Content[i+1])
		}
	}
	return nil
}

func (w *workflow) parseInputs(dispatch *yaml.Node) error {
	if dispatch.Kind != yaml.MappingNode {
		return nil // "workflow_dispatch:" with no inputs
	}
	for i := 0; i+1 < len(dispatch.Content); i += 2 {
		if dispatch.Content[i].Value != "inputs" {
			continue
		}
		inputs := dispatch.Content[i+1]
		for j := 0; j+1 < len(inputs.Content); j += 2 {
			var in rawInput
			if err := inputs.Content[j+1].Decode(&in); err != nil {
				return fmt.Errorf("input %s: %w", inputs.Content[j].Value, err)
			}
			w.inputs = append(w.inputs, workflowInput{
				name:     inputs.Content[j].Value,
				required: in.Required,
				def:      in.Default.Value,
				options:  in.Options,
			})
		}
	}
	return nil
}

// parseJobs takes the first job's name and runner labels; the simulator
// runs one job per run.
func (w *workflow) parseJobs(jobs *yaml.Node) error {
	if jobs.Kind != yaml.MappingNode || len(jobs.Content) < 2 {
		return errors.New("no jobs")
	}
	var job rawJob
	if err := jobs.Content[1].Decode(&job); err != nil {
		return fmt.Errorf("job %s: %w", jobs.Content[0].Value, err)
	}
	w.jobName = cmpOr(job.Name, jobs.Content[0].Value)
	var labels []string
	switch job.RunsOn.Kind {
	case yaml.ScalarNode:
		labels = []string{job.RunsOn.Value}
	case yaml.SequenceNode:
		_ = job.RunsOn.Decode(&labels) // not a list of strings: keep the default
	}
	// An expression (runs-on: ${{ ... }}) picks the runner per run; the
	// simulator does not evaluate it and keeps the default label.
	if len(labels) > 0 && !slices.ContainsFunc(labels, func(l string) bool { return strings.Contains(l, "${{") }) {
		w.labels = labels
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// matches reports whether id names the workflow: its file name or numeric id.
func (w *workflow) matches(id string) bool {
	return id == w.file || id == fmt.Sprint(workflowID)
}

// resolveInputs checks dispatch inputs against the declared ones, as GitHub
// does, and returns them with defaults applied, or GitHub's 422 message.
func (w *workflow) resolveInputs(given map[string]string) (resolved map[string]string, problem string) {
	var unexpected []string
	for name := range given {
		if !slices.ContainsFunc(w.inputs, func(in workflowInput) bool { return in.name == name }) {
			unexpected = append(unexpected, name)
		}
	}
	if len(unexpected) > 0 {
		sort.Strings(unexpected)
		list, _ := json.Marshal(unexpected)
		return nil, fmt.Sprintf("Unexpected inputs provided: %s", list)
	}
	resolved = make(map[string]string, len(w.inputs))
	for _, in := range w.inputs {
		v, ok := given[in.name]
		if !ok {
			if in.required && in.def == "" {
				return nil, fmt.Sprintf("Required input '%s' not provided", in.name)
			}
			v = in.def
		}
		if len(in.options) > 0 && !slices.Contains(in.options, v) {
			return nil, fmt.Sprintf("Provided value '%s' for input '%s' not in the list of allowed values", v, in.name)
		}
		resolved[in.name] = v
	}
	return resolved, ""
}

var inputExpr = regexp.MustCompile(`\$\{\{\s*(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)\s*\}\}`)

// runNameShows reports whether run-name shows the input.
func (w *workflow) runNameShows(input string) bool {
	for _, m := range inputExpr.FindAllStringSubmatch(w.runName, -1) {
		if m[1] == input {
			return true
		}
	}
	return false
}

// displayTitle renders run-name with the run's inputs. Without a run-name
// GitHub titles a dispatched run with the workflow name.
func (w *workflow) displayTitle(inputs map[string]string) string {
	if w.runName == "" {
		return w.name
	}
	return strings.TrimSpace(inputExpr.ReplaceAllStringFunc(w.runName, func(expr string) string {
		return inputs[inputExpr.FindStringSubmatch(expr)[1]]
	}))
}
