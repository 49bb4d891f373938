package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestMigrationControllerEvents(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"valid", "  stunnel_tcp_proxy: " + proxyURL + "\n  mig_pv_limit: \"100\"\n",
			[]string{"Normal Accepted the data path goes through http://migrator:xxxxx@10.0.0.5:3128", "Normal FieldsNotUsed ferry does not use: spec.mig_pv_limit"}},
		{"direct", "  rsync_opt_bwlimit: 100\n", []string{"Normal Accepted the data path goes direct"}},
		{"invalid", "  stunnel_tcp_proxy: http://migrator:pr0xy-pa55@10.0.0.5\n", []string{"Warning InvalidConfiguration migrations wait until this is fixed", "no port"}},
		{"strings for numbers", "  rsync_opt_bwlimit: fast\n", []string{"Warning InvalidConfiguration", "spec.rsync_opt_bwlimit: want an integer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := migrationController(t, tt.spec)
			// The MigrationController is read as unstructured, as MTC's operator writes it:
			// the scheme does not know it, so "100" is not decoded into an integer here.
			c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithObjects(mc).Build()
			rec := events.NewFakeRecorder(10)
			r := &MigrationControllerReconciler{Client: c, Namespace: ns, Recorder: rec}
			req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "migration-controller"}}
			if _, err := r.Reconcile(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			evs := strings.Join(drain(rec), "\n")
			for _, w := range tt.want {
				if !strings.Contains(evs, w) {
					t.Errorf("events do not say %q:\n%s", w, evs)
				}
			}
			if strings.Contains(evs, "pr0xy-pa55") {
				t.Errorf("the password leaked:\n%s", evs)
			}
			if _, err := r.Reconcile(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if again := drain(rec); len(again) != 0 {
				t.Errorf("the same generation was reported again: %q", again)
			}
		})
	}
}
