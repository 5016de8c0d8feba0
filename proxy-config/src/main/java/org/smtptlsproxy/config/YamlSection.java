package org.smtptlsproxy.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * One YAML block (mapping) being bound: typed accessors that fall back to defaults, record a
 * {@link ConfigProblem} with path and line for anything wrong, and remember which keys were read,
 * so that {@link #finish()} can report the rest as unknown.
 */
final class YamlSection {

    private static final Pattern ENV = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");

    private final String path;
    private final int line;
    private final List<ConfigProblem> problems;
    private final Map<String, String> environment;
    private final Map<String, NodeTuple> entries = new LinkedHashMap<>();
    private final Set<String> read = new TreeSet<>();

    private YamlSection(String path, int line, List<ConfigProblem> problems, Map<String, String> environment) {
        this.path = path;
        this.line = line;
        this.problems = problems;
        this.environment = environment;
    }

    /** A section for {@code node}; a node that is not a mapping is a problem and yields an empty section. */
    static YamlSection of(Node node, String path, List<ConfigProblem> problems, Map<String, String> environment) {
        YamlSection section = new YamlSection(path, lineOf(node), problems, environment);
        if (node instanceof MappingNode mapping) {
            for (NodeTuple tuple : mapping.getValue()) {
                if (tuple.getKeyNode() instanceof ScalarNode key) {
                    if (section.entries.put(key.getValue(), tuple) != null) {
                        section.problem(key.getValue(), lineOf(key), "duplicate key");
                    }
                } else {
                    problems.add(new ConfigProblem(path, lineOf(tuple.getKeyNode()), "keys must be plain names"));
                }
            }
        } else if (node != null && !isNull(node)) {
            problems.add(new ConfigProblem(path, lineOf(node), "expected a block of keys"));
        }
        return section;
    }

    String path() {
        return path;
    }

    int line() {
        return line;
    }

    String path(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    boolean has(String key) {
        read.add(key);
        NodeTuple tuple = entries.get(key);
        return tuple != null && !isNull(tuple.getValueNode());
    }

    int lineOf(String key) {
        NodeTuple tuple = entries.get(key);
        return tuple == null ? line : lineOf(tuple.getKeyNode());
    }

    void problem(String key, String message) {
        problems.add(new ConfigProblem(path(key), lineOf(key), message));
    }

    private void problem(String key, int atLine, String message) {
        problems.add(new ConfigProblem(path(key), atLine, message));
    }

    /** A missing key that must be there: reported at the line of this block. */
    void missing(String key) {
        problems.add(new ConfigProblem(path(key), line, "required"));
    }

    String string(String key, String defaultValue) {
        if (!has(key)) {
            return defaultValue;
        }
        Node node = entries.get(key).getValueNode();
        if (!(node instanceof ScalarNode scalar)) {
            problem(key, "expected a single value");
            return defaultValue;
        }
        return substitute(key, scalar.getValue());
    }

    String requiredString(String key) {
        if (!has(key)) {
            missing(key);
            return null;
        }
        String value = string(key, null);
        if (value != null && value.isBlank()) {
            problem(key, "must not be empty");
            return null;
        }
        return value;
    }

    boolean bool(String key, boolean defaultValue) {
        String value = string(key, null);
        if (value == null) {
            return defaultValue;
        }
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> {
                problem(key, "'" + value + "' is not true or false");
                yield defaultValue;
            }
        };
    }

    int integer(String key, int defaultValue, int min) {
        String value = string(key, null);
        if (value == null) {
            return defaultValue;
        }
        try {
            int number = Integer.parseInt(value.strip());
            if (number < min) {
                problem(key, "must be at least " + min);
                return defaultValue;
            }
            return number;
        } catch (NumberFormatException e) {
            problem(key, "'" + value + "' is not a whole number");
            return defaultValue;
        }
    }

    Duration duration(String key, Duration defaultValue) {
        Duration value = parsed(key, defaultValue, Durations::parse);
        if (value.isZero()) {
            problem(key, "must be longer than 0");
            return defaultValue;
        }
        return value;
    }

    DataSize size(String key, DataSize defaultValue) {
        return parsed(key, defaultValue, DataSize::parse);
    }

    <T> T parsed(String key, T defaultValue, Function<String, T> parser) {
        String value = string(key, null);
        if (value == null) {
            return defaultValue;
        }
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            problem(key, e.getMessage());
            return defaultValue;
        }
    }

    <E extends Enum<E>> E enumeration(String key, E defaultValue, Class<E> type) {
        String value = string(key, null);
        if (value == null) {
            return defaultValue;
        }
        try {
            return Enum.valueOf(type, value.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            List<String> allowed = new ArrayList<>();
            for (E constant : type.getEnumConstants()) {
                allowed.add(constant.name().toLowerCase(Locale.ROOT));
            }
            problem(key, "'" + value + "' is not one of " + String.join(", ", allowed));
            return defaultValue;
        }
    }

    /** The items of a list; a single value where a list is expected is a problem. */
    List<Node> list(String key) {
        if (!has(key)) {
            return List.of();
        }
        Node node = entries.get(key).getValueNode();
        if (node instanceof SequenceNode sequence) {
            return sequence.getValue();
        }
        problem(key, "expected a list, e.g. [a, b]");
        return List.of();
    }

    /** A list of strings; {@code null} when the key is absent. */
    List<String> strings(String key) {
        if (!has(key)) {
            return null;
        }
        List<String> values = new ArrayList<>();
        List<Node> items = list(key);
        for (int i = 0; i < items.size(); i++) {
            if (items.get(i) instanceof ScalarNode scalar && !isNull(scalar)) {
                values.add(substitute(key + "[" + i + "]", scalar.getValue()));
            } else {
                problems.add(new ConfigProblem(path(key) + "[" + i + "]", lineOf(items.get(i)), "expected a single value"));
            }
        }
        return values;
    }

    /** A nested block; an empty section when absent (so defaults apply). */
    YamlSection section(String key) {
        Node node = has(key) ? entries.get(key).getValueNode() : null;
        YamlSection nested = of(node, path(key), problems, environment);
        return node == null ? nested.at(lineOf(key)) : nested;
    }

    private YamlSection at(int lineOfKey) {
        YamlSection moved = new YamlSection(path, lineOfKey, problems, environment);
        moved.entries.putAll(entries);
        return moved;
    }

    /** Every key that no accessor asked for is unknown. */
    void finish() {
        for (Map.Entry<String, NodeTuple> entry : entries.entrySet()) {
            String key = entry.getKey();
            if (!read.contains(key)) {
                String suggestion = nearest(key);
                problem(key, lineOf(entry.getValue().getKeyNode()),
                        "unknown key" + (suggestion == null ? "" : "; did you mean '" + suggestion + "'?"));
            }
        }
    }

    private String nearest(String key) {
        String best = null;
        int bestDistance = 3;
        for (String known : read) {
            int distance = distance(key.toLowerCase(Locale.ROOT), known);
            if (distance < bestDistance) {
                best = known;
                bestDistance = distance;
            }
        }
        return best;
    }

    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    private String substitute(String key, String value) {
        Matcher m = ENV.matcher(value);
        if (!m.find()) {
            return value;
        }
        StringBuilder out = new StringBuilder();
        do {
            String replacement = environment.get(m.group(1));
            if (replacement == null) {
                problem(key, "environment variable " + m.group(1) + " is not set");
                replacement = "";
            }
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        } while (m.find());
        m.appendTail(out);
        return out.toString();
    }

    static int lineOf(Node node) {
        return node == null ? 0 : node.getStartMark().getLine() + 1;
    }

    static boolean isNull(Node node) {
        return node instanceof ScalarNode scalar && Tag.NULL.equals(scalar.getTag());
    }
}
