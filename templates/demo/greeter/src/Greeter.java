// The Java part of {{name}}: compiled ahead of time by GraalVM native-image into a native
// executable that the Python host runs. Optional: without native-image the app says so.
public final class Greeter {
    private Greeter() {}

    /** Steps the Collatz sequence takes from n to 1 (collatzSteps(27) == 111). */
    static int collatzSteps(long n) {
        if (n < 1) throw new IllegalArgumentException("n must be positive");
        int steps = 0;
        while (n != 1) {
            n = (n % 2 == 0) ? n / 2 : 3 * n + 1;
            steps++;
        }
        return steps;
    }

    public static void main(String[] args) {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 27;
        System.out.println("collatz_steps(" + n + ") = " + collatzSteps(n));
    }
}
