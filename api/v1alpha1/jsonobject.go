package v1alpha1

import "encoding/json"

// JSONObject is an object of JSON values as encoding/json or sigs.k8s.io/yaml decode them
// into `any`: maps, slices, strings, numbers, booleans and nil. MigrationControllerSpec
// keeps the fields it does not type in one.
//
// Its deep copy is written by hand because controller-gen cannot copy values of type any;
// being a named type with its own DeepCopy, it lets controller-gen generate the rest of the
// spec's copy. Values of runtime.RawExtension or apiextensionsv1.JSON would have needed
// neither, but would make internal/config re-encode every field it only carries through,
// and every reader decode them again.
type JSONObject map[string]any

// DeepCopyInto copies in into out; nested maps and slices are copied, not shared.
func (in JSONObject) DeepCopyInto(out *JSONObject) {
	*out = in.DeepCopy()
}

// DeepCopy returns a copy of in that shares no map or slice with it.
func (in JSONObject) DeepCopy() JSONObject {
	if in == nil {
		return nil
	}
	out := make(JSONObject, len(in))
	for k, v := range in {
		out[k] = deepCopyJSONValue(v)
	}
	return out
}

// deepCopyJSONValue copies maps and slices recursively. Other values (strings, numbers,
// booleans, nil) are immutable and returned as they are; unlike apimachinery's
// runtime.DeepCopyJSONValue this never panics on a number type it did not expect.
func deepCopyJSONValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return map[string]any(JSONObject(v).DeepCopy())
	case JSONObject:
		return v.DeepCopy()
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyJSONValue(e)
		}
		return out
	case json.RawMessage:
		if v == nil {
			return v
		}
		return append(json.RawMessage(nil), v...)
	default:
		return v
	}
}
